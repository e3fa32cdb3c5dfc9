"use client";

import { keepPreviousData } from "@tanstack/react-query";
import Link from "next/link";
import { useEffect, useMemo, useState } from "react";

import type { LiveEvent } from "~/server/events";
import { api, type RouterInputs, type RouterOutputs } from "~/trpc/react";
import { useLiveEvents } from "~/trpc/use-live-events";
import { Chart, formatNumber } from "./chart";

type Sample = Extract<LiveEvent, { name: "console.sample" }>["data"];
type ConsoleData = RouterOutputs["admin"]["console"];
type ActivityData = RouterOutputs["admin"]["activity"];
type ConnectionsInput = Required<NonNullable<RouterInputs["admin"]["connections"]>>;

/** Seconds the charts span: 15 minutes. */
const WINDOW_S = 900;
/** An instance silent this long (while the console is live) has stopped heartbeating. */
const SILENT_AFTER_S = 5;

/** Samples by scope ("platform" or an organisation id), instance and second. */
class SampleStore {
  private readonly byScope = new Map<string, Map<string, Map<number, Sample>>>();

  add(sample: Sample): void {
    const scope = sample.scope === "platform" ? "platform" : sample.organizationId!;
    let instances = this.byScope.get(scope);
    if (!instances) this.byScope.set(scope, (instances = new Map<string, Map<number, Sample>>()));
    let seconds = instances.get(sample.instanceId);
    if (!seconds) instances.set(sample.instanceId, (seconds = new Map<number, Sample>()));
    // The first paint and the stream may both carry a second: keyed, it counts once.
    seconds.set(Math.floor(sample.at / 1000), sample);
    const oldest = Math.floor(Date.now() / 1000) - WINDOW_S - 5;
    for (const second of seconds.keys()) {
      if (second < oldest) seconds.delete(second);
      else break;
    }
  }

  instances(scope: string): Map<string, Map<number, Sample>> {
    return this.byScope.get(scope) ?? new Map<string, Map<number, Sample>>();
  }
}

const palette = {
  blue: "#3b82f6",
  green: "#16a34a",
  amber: "#d97706",
  red: "#dc2626",
  violet: "#8b5cf6",
  slate: "#64748b",
  cyan: "#0891b2",
};
const instanceColors = [palette.blue, palette.violet, palette.cyan, palette.amber, palette.green, palette.slate];

export function OperatorConsole({ viewer }: { viewer: { name: string | null; operator: boolean } }) {
  const first = api.admin.console.useQuery(undefined, { refetchOnWindowFocus: false });
  const activity = api.admin.activity.useQuery(undefined, { refetchOnWindowFocus: false });
  // One store for the page's life, filled by the stream's handler; `clock` says when it changed.
  const [store] = useState(() => new SampleStore());
  const [clock, setClock] = useState(() => ({ now: Math.floor(Date.now() / 1000), version: 0, refreshedAt: 0 }));
  const [chosenScope, setScope] = useState<string | null>(viewer.operator ? "platform" : null);
  const scope = chosenScope ?? first.data?.organizations[0]?.id ?? null;
  const [audit, setAudit] = useState<Extract<LiveEvent, { name: "admin.action" }>[]>([]);
  const [theme, setTheme] = useState<"light" | "dark" | null>(null);
  const utils = api.useUtils();

  // The charts' time axis moves on even when no sample arrives (a silent instance shows as one).
  useEffect(() => {
    const timer = setInterval(
      () => setClock((c) => ({ ...c, now: Math.floor(Date.now() / 1000), version: c.version + 1 })),
      1_000,
    );
    return () => clearInterval(timer);
  }, []);

  const live = useLiveEvents({
    names: ["console.sample", "admin.action"],
    feedSize: 0,
    onEvent: (event) => {
      if (event.name === "console.sample") {
        store.add(event.data);
        const at = Date.now();
        // Retention and recent events move with emits: read them again, at most every 5 s.
        const refresh = event.data.emitted > 0 && at - clock.refreshedAt > 5_000;
        if (refresh) void utils.admin.activity.invalidate();
        setClock((c) => ({
          now: Math.floor(at / 1000),
          version: c.version + 1,
          refreshedAt: refresh ? at : c.refreshedAt,
        }));
      } else if (event.name === "admin.action") {
        setAudit((held) => [event, ...held].slice(0, 20));
        void utils.admin.connections.invalidate();
      }
    },
  });

  const history = first.data?.history;
  const view = useMemo(
    () => aggregate(store, history?.[scope ?? ""] ?? [], scope ?? "", clock.now),
    // `clock.version` changes whenever the store does.
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [store, history, scope, clock.now, clock.version],
  );
  const names = new Map(first.data?.organizations.map((o) => [o.id, o.name]));
  const scopeName = scope === "platform" ? "every organisation" : (names.get(scope ?? "") ?? "…");

  // Samples travel as events (through Redis, when there is one). When every instance falls
  // silent, this instance's own health is read over plain HTTP instead, every 5 s until they speak.
  const allSilent =
    live.status === "live" &&
    view.lastSeen.size > 0 &&
    [...view.lastSeen.values()].every(({ at }) => view.now - at > SILENT_AFTER_S);
  useEffect(() => {
    if (!allSilent) return;
    const timer = setInterval(() => void utils.admin.console.invalidate(), 5_000);
    void utils.admin.console.invalidate();
    return () => clearInterval(timer);
  }, [allSilent, utils]);

  // The table follows the streams: a change in their number, or a stream opened (one replacing
  // another leaves the number as it was), reads it again; no timer.
  const streamsNow = view.latestStreams;
  const openedAt = view.lastOpenedAt;
  useEffect(() => {
    void utils.admin.connections.invalidate();
  }, [streamsNow, openedAt, utils]);

  return (
    <div className="console" data-theme={theme ?? undefined}>
      <header className="console-header">
        <div>
          <h1>Operator console</h1>
          <p className="console-muted">
            {viewer.operator ? "Platform operator" : "Organisation admin"} · {viewer.name ?? "signed in"} · showing{" "}
            <strong data-testid="console-scope">{scopeName}</strong>
          </p>
        </div>
        <div className="console-row">
          {first.data && !viewer.operator && first.data.organizations.length > 1 && (
            <select
              value={scope ?? ""}
              onChange={(e) => setScope(e.target.value)}
              aria-label="Scope"
              data-testid="console-scope-select"
            >
              {viewer.operator && <option value="platform">Every organisation</option>}
              {(viewer.operator ? [] : first.data.organizations).map((o) => (
                <option key={o.id} value={o.id}>
                  {o.name}
                </option>
              ))}
            </select>
          )}
          <span className="console-pill" data-status={live.status} data-testid="console-status">
            {live.status === "live" ? "live" : live.status}
          </span>
          <button
            onClick={() => setTheme(theme === null ? "dark" : theme === "dark" ? "light" : null)}
            aria-label="Theme"
            title="Theme: the system's, dark or light"
          >
            Theme: {theme ?? "system"}
          </button>
          <Link href="/">App</Link>
        </div>
      </header>

      <Banners
        view={view}
        status={live.status}
        served={allSilent && first.data ? { instanceId: first.data.instanceId, health: first.data.health } : undefined}
      />
      {(first.data?.historyMissingInstances ?? 0) > 0 && (
        <p className="console-muted" data-testid="console-history-missing">
          {first.data!.historyMissingInstances} instance(s) did not send their last 15 minutes in time: their figures
          start when this page opened.
        </p>
      )}

      <div className="console-kpis">
        <Kpi label="Emitted (15 min)" value={view.totals.emitted} testId="kpi-emitted" />
        <Kpi label="Deliveries (15 min)" value={view.totals.written} testId="kpi-written" />
        <Kpi label="Open streams" value={view.latestStreams} testId="kpi-streams" />
        <Kpi label="Lag p99 (last s)" value={view.latestP99} unit=" ms" testId="kpi-p99" />
        <Kpi label="Gaps (15 min)" value={view.totals.gapsRetention + view.totals.gapsUnknown} testId="kpi-gaps" />
        <Kpi
          label="Slow / stalled (15 min)"
          value={view.totals.slowConsumer + view.totals.stalled}
          testId="kpi-disconnects"
        />
        <Kpi label="Rate-limited (15 min)" value={view.totals.rateLimited} testId="kpi-rate-limited" />
      </div>

      <div className="console-charts">
        <Chart
          title="Events emitted and deliveries per second"
          times={view.times}
          testId="chart-throughput"
          series={[
            { label: "emitted", color: palette.blue, values: view.series.emitted },
            { label: "deliveries", color: palette.green, values: view.series.written },
          ]}
        />
        <Chart
          title={view.instances.length > 1 ? "Open streams per instance" : "Open streams"}
          times={view.times}
          testId="chart-streams"
          series={view.instances.map((id, i) => ({
            label: shortId(id),
            color: instanceColors[i % instanceColors.length]!,
            values: view.streamsByInstance[i]!,
          }))}
        />
        <Chart
          title="Emit-to-delivery lag (server, append to socket write)"
          times={view.times}
          unit=" ms"
          testId="chart-lag"
          series={[
            { label: "p50", color: palette.cyan, values: view.series.lagP50 },
            { label: "p99", color: palette.red, values: view.series.lagP99 },
          ]}
        />
        <Chart
          title="Resumes and gaps by reason"
          times={view.times}
          testId="chart-replays"
          series={[
            { label: "resumes", color: palette.blue, values: view.series.resumes },
            { label: "gap: retention", color: palette.amber, values: view.series.gapsRetention },
            { label: "gap: unknown cursor", color: palette.red, values: view.series.gapsUnknown },
          ]}
        />
        <Chart
          title="Disconnects: slow consumers and stalled sockets"
          times={view.times}
          testId="chart-disconnects"
          series={[
            { label: "slow consumer", color: palette.amber, values: view.series.slowConsumer },
            { label: "stalled", color: palette.red, values: view.series.stalled },
          ]}
        />
        <Chart
          title="Rate-limit refusals"
          times={view.times}
          testId="chart-rate-limits"
          series={[{ label: "refused", color: palette.violet, values: view.series.rateLimited }]}
        />
        {scope === "platform" && (
          <Chart
            title="Outbox: pending rows and relay lag"
            times={view.times}
            testId="chart-outbox"
            series={[
              { label: "pending", color: palette.slate, values: view.series.outboxPending },
              { label: "relay lag (ms)", color: palette.amber, values: view.series.relayLagMs },
            ]}
          />
        )}
      </div>

      <div className="console-grid">
        {viewer.operator && <Health view={view} />}
        <Retention data={activity.data} scope={scope} />
        <section className="console-card">
          <h2>Audit</h2>
          <ul className="console-list" data-testid="console-audit">
            {audit.length === 0 && <li className="console-muted">No administrator actions since this page opened</li>}
            {audit.map((event) => (
              <li key={event.id}>
                <strong>{event.data.by.name ?? "an administrator"}</strong>{" "}
                {event.data.action === "stream.ended" ? "ended a stream of" : "revoked the sign-ins of"}{" "}
                <strong>{event.data.subject.name ?? "a member"}</strong>{" "}
                <span className="console-muted">{new Date(event.emittedAt).toLocaleTimeString()}</span>
              </li>
            ))}
          </ul>
        </section>
      </div>

      <div className="console-grid">
        <Connections />
        <RecentEvents data={activity.data} />
      </div>
    </div>
  );
}

function Kpi({ label, value, unit, testId }: { label: string; value: number | null; unit?: string; testId: string }) {
  return (
    <div className="console-kpi">
      <span className="console-muted">{label}</span>
      <strong data-testid={testId} data-value={value ?? ""}>
        {value === null ? "—" : `${formatNumber(value)}${unit ?? ""}`}
      </strong>
    </div>
  );
}

type View = ReturnType<typeof aggregate>;

/**
 * The scope's last 15 minutes, summed over instances per second (lag: the
 * worst instance): the first paint's history, then what the stream brought.
 */
function aggregate(store: SampleStore, history: readonly Sample[], scope: string, now: number) {
  const instances = new Map<string, Map<number, Sample>>();
  for (const sample of history) {
    let seconds = instances.get(sample.instanceId);
    if (!seconds) instances.set(sample.instanceId, (seconds = new Map<number, Sample>()));
    seconds.set(Math.floor(sample.at / 1000), sample);
  }
  for (const [id, live] of store.instances(scope)) {
    const seconds = instances.get(id);
    if (!seconds) instances.set(id, new Map(live));
    else for (const [second, sample] of live) seconds.set(second, sample);
  }
  const ids = [...instances.keys()].sort();
  const times: number[] = [];
  const keys = [
    "emitted",
    "written",
    "resumes",
    "replayed",
    "gapsRetention",
    "gapsUnknown",
    "slowConsumer",
    "stalled",
    "rateLimited",
  ] as const;
  type Key = (typeof keys)[number];
  const series = Object.fromEntries(
    [...keys, "lagP50", "lagP99", "outboxPending", "relayLagMs"].map((k) => [k, [] as (number | null)[]]),
  ) as Record<Key | "lagP50" | "lagP99" | "outboxPending" | "relayLagMs", (number | null)[]>;
  const totals = Object.fromEntries(keys.map((k) => [k, 0])) as Record<Key, number>;
  const streamsByInstance = ids.map(() => [] as (number | null)[]);
  const lastSeen = new Map<string, { at: number; sample: Sample }>();
  /** The last second in which a stream opened anywhere in scope. */
  let lastOpenedAt = 0;
  for (let second = now - WINDOW_S; second <= now; second++) {
    times.push(second);
    const sums = Object.fromEntries(keys.map((k) => [k, null])) as Record<Key, number | null>;
    let p50: number | null = null;
    let p99: number | null = null;
    let pending: number | null = null;
    let relayLag: number | null = null;
    ids.forEach((id, i) => {
      const sample = instances.get(id)!.get(second);
      streamsByInstance[i]!.push(sample ? sample.streams : null);
      if (!sample) return;
      lastSeen.set(id, { at: second, sample });
      if ((sample.opened ?? 0) > 0) lastOpenedAt = second;
      for (const k of keys) {
        sums[k] = (sums[k] ?? 0) + sample[k];
        totals[k] += sample[k];
      }
      if (sample.lagP50 !== null) p50 = Math.max(p50 ?? 0, sample.lagP50);
      if (sample.lagP99 !== null) p99 = Math.max(p99 ?? 0, sample.lagP99);
      if (sample.health?.outboxPending != null) pending = (pending ?? 0) + sample.health.outboxPending;
      if (sample.health?.relayLagMs != null) relayLag = Math.max(relayLag ?? 0, sample.health.relayLagMs);
    });
    for (const k of keys) series[k].push(sums[k]);
    series.lagP50.push(p50);
    series.lagP99.push(p99);
    series.outboxPending.push(pending);
    series.relayLagMs.push(relayLag);
  }
  let latestStreams = 0;
  let latestP99: number | null = null;
  for (const { sample } of lastSeen.values()) {
    latestStreams += sample.streams;
    if (sample.lagP99 !== null) latestP99 = Math.max(latestP99 ?? 0, sample.lagP99);
  }
  return {
    times,
    series,
    totals,
    instances: ids,
    streamsByInstance,
    lastSeen,
    latestStreams,
    lastOpenedAt,
    latestP99,
    now,
  };
}

function Banners({
  view,
  status,
  served,
}: {
  view: View;
  status: string;
  /** The health of the instance serving this page, read over HTTP (when samples stop coming). */
  served: { instanceId: string; health: ConsoleData["health"] } | undefined;
}) {
  const banners: string[] = [];
  if (served?.health.redis === "down") banners.push(`Instance ${shortId(served.instanceId)} cannot reach Redis.`);
  if (served?.health.database === "down")
    banners.push(`Instance ${shortId(served.instanceId)} cannot reach the database.`);
  if (status !== "live" && status !== "idle") banners.push(`The console's stream is ${status}: figures are paused.`);
  for (const [id, { at, sample }] of view.lastSeen) {
    const silent = view.now - at;
    if (status === "live" && silent > SILENT_AFTER_S) {
      banners.push(`Instance ${shortId(id)} stopped heartbeating ${silent} s ago.`);
    }
    if (sample.health?.redis === "down") banners.push(`Instance ${shortId(id)} cannot reach Redis.`);
    if (sample.health?.database === "down") banners.push(`Instance ${shortId(id)} cannot reach the database.`);
  }
  if (banners.length === 0) {
    return (
      <div className="console-banner console-banner-ok" data-testid="console-healthy">
        Healthy: every instance reporting
      </div>
    );
  }
  return (
    <div className="console-banner console-banner-bad" role="alert" data-testid="console-banner">
      {[...new Set(banners)].map((text) => (
        <div key={text}>{text}</div>
      ))}
    </div>
  );
}

function Health({ view }: { view: View }) {
  // A row per instance: the full width, so every column shows at a glance.
  return (
    <section className="console-card console-wide">
      <h2>Instances</h2>
      <table className="console-table" data-testid="console-instances">
        <thead>
          <tr>
            <th>Instance</th>
            <th>Version</th>
            <th>Uptime</th>
            <th>Loop lag p99</th>
            <th>Redis</th>
            <th>Database</th>
            <th>Last seen</th>
          </tr>
        </thead>
        <tbody>
          {[...view.lastSeen].map(([id, { at, sample }]) => (
            <tr key={id}>
              <td>
                <code title={id}>{id}</code>
              </td>
              <td>{sample.health?.version ?? "—"}</td>
              <td>{sample.health ? duration(sample.health.uptimeS) : "—"}</td>
              <td>{sample.health?.eventLoopLagP99 != null ? `${sample.health.eventLoopLagP99} ms` : "—"}</td>
              <td data-ok={sample.health?.redis !== "down"}>{sample.health?.redis ?? "—"}</td>
              <td data-ok={sample.health?.database !== "down"}>{sample.health?.database ?? "—"}</td>
              <td>{view.now - at} s ago</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function Retention({ data, scope }: { data: ActivityData | undefined; scope: string | null }) {
  const rows = data?.retention.filter((r) => scope === "platform" || r.organizationId === scope) ?? [];
  return (
    <section className="console-card">
      <h2>Replay history per organisation</h2>
      <p className="console-muted">Events each organisation&apos;s history holds; at the limit, older cursors gap.</p>
      <table className="console-table" data-testid="console-retention">
        <tbody>
          {rows.map((r) => {
            const use = r.max > 0 ? Math.min(1, r.retained / r.max) : 0;
            return (
              <tr key={r.organizationId}>
                <td>{r.name}</td>
                <td style={{ width: "50%" }}>
                  <div className="console-meter" data-level={use > 0.9 ? "bad" : use > 0.7 ? "warn" : "ok"}>
                    <span style={{ width: `${Math.round(use * 100)}%` }} />
                  </div>
                </td>
                <td>
                  {r.retained} / {r.max}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}

/** The newest events in the viewer's scope (newest first): payloads only where the viewer may read them. */
function RecentEvents({ data }: { data: ActivityData | undefined }) {
  return (
    <section className="console-card console-wide">
      <h2>
        Recent events{" "}
        <span className="console-muted">
          (the last {data?.recent.length ?? 0}
          {data && data.instances > 1 ? ` across ${data.instances} instances` : ""}
          {data && data.missingInstances > 0 ? `; ${data.missingInstances} did not answer` : ""})
        </span>
      </h2>
      <div className="console-scroll">
        <table className="console-table" data-testid="console-recent">
          <thead>
            <tr>
              <th>Time</th>
              <th>Event</th>
              <th>Audience</th>
              <th>Size</th>
              <th>Payload</th>
            </tr>
          </thead>
          <tbody>
            {data?.recent.map((e) => (
              <tr key={e.id}>
                <td>{new Date(e.emittedAt).toLocaleTimeString()}</td>
                <td>
                  <code>{e.name}</code>
                </td>
                <td>{e.audience}</td>
                <td>{e.bytes} B</td>
                <td className="console-payload">
                  {e.data ? JSON.stringify(e.data).slice(0, 120) : <span className="console-muted">hidden</span>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function Connections() {
  const [input, setInput] = useState<ConnectionsInput>({
    filter: "",
    sort: "connectedAt",
    order: "desc",
    page: 0,
    pageSize: 25,
  });
  const connections = api.admin.connections.useQuery(input, { placeholderData: keepPreviousData });
  const utils = api.useUtils();
  const endStream = api.admin.endStream.useMutation({ onSettled: () => utils.admin.connections.invalidate() });
  const revoke = api.admin.revokeUser.useMutation({ onSettled: () => utils.admin.connections.invalidate() });
  const data = connections.data;
  const pages = data ? Math.max(1, Math.ceil(data.total / data.pageSize)) : 1;
  const sortBy = (sort: ConnectionsInput["sort"]) =>
    setInput((i) => ({ ...i, sort, order: i.sort === sort && i.order === "desc" ? "asc" : "desc", page: 0 }));
  const arrow = (sort: string) => (input.sort === sort ? (input.order === "desc" ? " ↓" : " ↑") : "");

  return (
    <section className="console-card console-wide">
      <div className="console-row console-spread">
        <h2>
          Who is connected{" "}
          {data && (
            <span className="console-muted" data-testid="connections-total">
              ({data.total} on {data.instances} instance{data.instances === 1 ? "" : "s"}
              {data.missingInstances > 0 ? `; ${data.missingInstances} did not answer` : ""})
            </span>
          )}
        </h2>
        <input
          placeholder="Filter by name or organisation"
          value={input.filter}
          onChange={(e) => setInput((i) => ({ ...i, filter: e.target.value, page: 0 }))}
          data-testid="connections-filter"
          maxLength={100}
        />
      </div>
      <table className="console-table" data-testid="connections">
        <thead>
          <tr>
            <th onClick={() => sortBy("user")}>User{arrow("user")}</th>
            <th>Organisation</th>
            <th>Tabs</th>
            <th>Transport</th>
            <th onClick={() => sortBy("connectedAt")}>Connected{arrow("connectedAt")}</th>
            <th onClick={() => sortBy("lastEventAt")}>Last event{arrow("lastEventAt")}</th>
            <th onClick={() => sortBy("eventsSent")}>Events{arrow("eventsSent")}</th>
            <th title="Catching up from history, live, or behind; and what its socket has yet to take">Position</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {data?.rows.map((row) => (
            <tr key={row.connectionId} data-testid="connection-row" data-connection-id={row.connectionId}>
              <td data-testid="connection-user">{row.user.name ?? "(no name)"}</td>
              <td data-testid="connection-organizations">{row.organizations.join(", ")}</td>
              <td>{row.tabs ?? "all"}</td>
              <td>{row.transport}</td>
              <td>{since(row.connectedAt)}</td>
              <td>{row.lastEventAt ? since(row.lastEventAt) : "—"}</td>
              <td>{row.eventsSent}</td>
              <td>
                <span className="console-pill" data-status={row.state === "live" ? "live" : "connecting"}>
                  {row.state}
                </span>{" "}
                {row.queuedBytes !== null && (
                  <span className="console-muted" data-testid="connection-queued">
                    {row.queuedBytes === 0 ? "at head" : `${formatNumber(row.queuedBytes)} B queued`}
                  </span>
                )}
              </td>
              <td className="console-row">
                <button
                  data-testid="end-stream"
                  disabled={endStream.isPending}
                  onClick={() => endStream.mutate({ connectionId: row.connectionId })}
                >
                  End stream
                </button>
                <button
                  className="console-danger"
                  disabled={revoke.isPending}
                  onClick={() => {
                    if (window.confirm(`Revoke every sign-in of ${row.user.name ?? "this user"}?`))
                      revoke.mutate({ userId: row.user.id });
                  }}
                >
                  Revoke sign-in
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {(endStream.error ?? revoke.error) && (
        <p className="console-error">{(endStream.error ?? revoke.error)!.message}</p>
      )}
      <div className="console-row console-spread">
        <span className="console-muted">
          Page {input.page + 1} of {pages}
        </span>
        <div className="console-row">
          <button disabled={input.page === 0} onClick={() => setInput((i) => ({ ...i, page: i.page - 1 }))}>
            Previous
          </button>
          <button disabled={input.page + 1 >= pages} onClick={() => setInput((i) => ({ ...i, page: i.page + 1 }))}>
            Next
          </button>
        </div>
      </div>
    </section>
  );
}

function since(ms: number): string {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  return s < 60 ? `${s} s ago` : s < 3600 ? `${Math.floor(s / 60)} min ago` : `${Math.floor(s / 3600)} h ago`;
}

function duration(seconds: number): string {
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
}

/** An instance's id is `host:pid:random`: the random part tells instances apart in a legend. */
function shortId(id: string): string {
  return id.split(":").at(-1) ?? id;
}
