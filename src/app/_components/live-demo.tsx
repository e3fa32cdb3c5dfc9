"use client";

import { useEffect, useState } from "react";

import type { EventName, LiveEvent } from "~/server/events";
import { api } from "~/trpc/react";
import { useLiveEvents } from "~/trpc/use-live-events";

function describe(event: LiveEvent): string {
  switch (event.name) {
    case "notification.created":
      return `${event.data.from.name ?? "someone"} → ${event.data.scope}: ${event.data.message}`;
    case "order.created":
      return `order "${event.data.title}" created (${event.data.displayAmount})`;
    case "order.status.changed":
      return `order ${event.data.orderId}: ${event.data.from} → ${event.data.to}`;
    case "payment.succeeded":
      return `payment of ${event.data.displayAmount} for ${event.data.orderId}`;
    case "payment.failed":
      return `payment failed for ${event.data.orderId}: ${event.data.errorCode}`;
    case "escrow.released":
      return `escrow released for ${event.data.orderId}${event.data.displayAmount ? ` (${event.data.displayAmount})` : ""}`;
    case "presence.changed":
      return `${event.data.name ?? event.data.userId} is ${event.data.online ? "online" : "offline"}`;
    case "presence.many_changed":
      return `${event.data.changes} more members came online or went offline`;
    default:
      return JSON.stringify(event.data);
  }
}

/** OPERATOR: the platform operator; ADMIN: an administrator of at least one of their organisations. */
type Me = { id: string; role: "OPERATOR" | "ADMIN" | "MEMBER"; name: string | null };

export function LiveDemo({ me, names }: { me: Me; names?: EventName[] }) {
  const live = useLiveEvents({ names });
  const ping = api.notification.send.useMutation();
  const signedOut = live.status === "error" && live.error?.data?.code === "UNAUTHORIZED";
  useEffect(() => {
    // Signed out (here or in another tab), or the session ended: every tab goes to sign-in.
    if (signedOut) window.location.assign("/signin?callbackUrl=/");
  }, [signedOut]);

  return (
    <>
      <div className="grid">
        <section>
          <h2>Connection</h2>
          <p>
            <span className="status" data-status={live.status} data-testid="connection-status">
              {live.status}
            </span>
            {live.gaps > 0 && <span className="muted"> · {live.gaps} gap(s): state refetched</span>}
          </p>
          <p className="muted" data-testid="connection-holder">
            {live.sharing === null
              ? "This tab has its own connection."
              : live.sharing.role === "leader"
                ? `This tab (${live.sharing.tabId.slice(0, 8)}) holds the connection for every tab of this sign-in.`
                : `Tab ${live.sharing.holder?.slice(0, 8) ?? "…"} holds the connection; this tab (${live.sharing.tabId.slice(0, 8)}) listens through it.`}
          </p>
          {live.status === "error" && live.error && (
            <p className="error" data-testid="connection-error">
              {live.error.data?.code === "UNAUTHORIZED" ? "Your session ended: sign in again." : live.error.message}
            </p>
          )}
          <div className="row">
            <button
              data-testid="demo-button"
              disabled={ping.isPending}
              onClick={() =>
                ping.mutate({ target: { kind: "self" }, message: `Ping at ${new Date().toLocaleTimeString()}` })
              }
            >
              Send me a live event
            </button>
            <button
              data-testid="tab-button"
              disabled={ping.isPending}
              onClick={() =>
                ping.mutate({ target: { kind: "session" }, message: `Tab ping at ${new Date().toLocaleTimeString()}` })
              }
            >
              … to this tab only
            </button>
            <button onClick={live.reconnect}>Reconnect</button>
          </div>
          {ping.error && <p className="error">{ping.error.message}</p>}
          <h2 style={{ marginTop: 12 }}>Latest event</h2>
          <div className="latest" data-testid="latest-event">
            {live.latest ? `${live.latest.name}: ${describe(live.latest)}` : "No events yet"}
          </div>
        </section>
        <SendNotification me={me} />
        <Inbox />
        <section>
          <h2>Live feed</h2>
          <ul className="feed" data-testid="live-feed">
            {live.feed.length === 0 && <li className="muted">Waiting for events…</li>}
            {live.feed.map((event) => (
              <li key={event.id}>
                <code>{event.name}</code> {describe(event)}{" "}
                <span className="muted">{new Date(event.emittedAt).toLocaleTimeString()}</span>
              </li>
            ))}
          </ul>
        </section>
        <Orders />
        <Presence />
        {me.role !== "MEMBER" && <Stats />}
      </div>
    </>
  );
}

function SendNotification({ me }: { me: Me }) {
  const recipients = api.notification.recipients.useQuery();
  const send = api.notification.send.useMutation();
  const [target, setTarget] = useState("organization");
  const [message, setMessage] = useState("Hello team!");

  return (
    <section>
      <h2>Send a notification</h2>
      <form
        className="row"
        onSubmit={(e) => {
          e.preventDefault();
          const t =
            target === "organization"
              ? ({ kind: "organization" } as const)
              : target === "broadcast"
                ? ({ kind: "broadcast" } as const)
                : ({ kind: "user", userId: target.slice("user:".length) } as const);
          send.mutate({ target: t, message, inbox: true });
        }}
      >
        <select value={target} onChange={(e) => setTarget(e.target.value)} data-testid="notify-target">
          <option value="organization">My organisation</option>
          {me.role === "OPERATOR" && <option value="broadcast">Every organisation</option>}
          {recipients.data?.map((r) => (
            <option key={`${r.id}:${r.organization.id}`} value={`user:${r.id}`}>
              {r.name ?? r.email} ({r.organization.name})
            </option>
          ))}
        </select>
        <input
          value={message}
          onChange={(e) => setMessage(e.target.value)}
          maxLength={1000}
          data-testid="notify-message"
        />
        <button type="submit" disabled={send.isPending} data-testid="notify-send">
          Send
        </button>
      </form>
      {send.error && <p className="error">{send.error.message}</p>}
      {send.data && <p className="muted">Sent as event {send.data.id}</p>}
    </section>
  );
}

/** Stored notifications, kept current by their `notification.created` events (a binding): no refetch, no polling. */
function Inbox() {
  const inbox = api.notification.inbox.useQuery();
  return (
    <section>
      <h2>Inbox (live)</h2>
      <ul className="feed" data-testid="inbox">
        {inbox.data?.length === 0 && <li className="muted">No notifications yet</li>}
        {inbox.data?.map((n) => (
          <li key={n.id} data-testid="inbox-item" data-notification-id={n.id}>
            <strong>{n.from.name ?? "someone"}</strong> <span className="muted">→ {n.scope}</span> {n.message}{" "}
            <span className="muted">{n.createdAt.toLocaleTimeString()}</span>
          </li>
        ))}
      </ul>
    </section>
  );
}

function Orders() {
  const orders = api.order.list.useQuery();
  const create = api.order.create.useMutation();
  const update = api.order.updateStatus.useMutation();
  const pay = api.order.payDemo.useMutation();
  const next: Record<string, "IN_PROGRESS" | "DELIVERED" | undefined> = {
    CREATED: "IN_PROGRESS",
    IN_PROGRESS: "DELIVERED",
  };
  const error = create.error ?? update.error ?? pay.error;

  return (
    <section>
      <h2>Orders (live)</h2>
      <button
        data-testid="create-order"
        disabled={create.isPending}
        onClick={() =>
          create.mutate({ title: `Order ${new Date().toLocaleTimeString()}`, totalCents: 12_500, currency: "USD" })
        }
      >
        Create order
      </button>
      {error && <p className="error">{error.message}</p>}
      <table style={{ marginTop: 8 }}>
        <tbody>
          {orders.data?.map((o) => (
            <tr key={o.id} data-testid="order" data-order-id={o.id} data-version={o.version}>
              <td>{o.title}</td>
              <td data-testid="order-status">{o.status}</td>
              <td className="muted">{o.paymentStatus.toLowerCase()}</td>
              <td className="muted" data-testid="order-live">
                live · v{o.version}
              </td>
              <td>
                {o.paymentStatus !== "PAID" && o.status !== "CANCELLED" && o.status !== "COMPLETED" && (
                  <button onClick={() => pay.mutate({ orderId: o.id })}>Pay (demo)</button>
                )}
                {next[o.status] && (
                  <button onClick={() => update.mutate({ orderId: o.id, to: next[o.status]! })}>
                    → {next[o.status]}
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="muted">
        An order is delivered once paid; escrow is released 10 s after delivery (background job). The list is kept
        current by the events themselves (src/trpc/live-bindings.ts): no refetch per event, no polling.
      </p>
    </section>
  );
}

function Presence() {
  const presence = api.events.presence.useQuery(undefined, { refetchInterval: 15_000 });
  return (
    <section>
      <h2>Online now</h2>
      {presence.data?.map((org) => (
        <div key={org.organizationId} data-testid="presence">
          <strong>{org.organizationName}</strong>
          <ul className="feed">
            {org.online.map((m) => (
              <li key={m.userId}>
                {m.name ?? m.userId} <span className="muted">· {m.connections} tab(s)</span>
              </li>
            ))}
          </ul>
        </div>
      ))}
    </section>
  );
}

/** Open streams of the organisations the viewer administers (every one, for the operator): names, never ids. */
function Stats() {
  const stats = api.events.stats.useQuery();
  const s = stats.data;
  return (
    <section data-testid="stats">
      <h2>Connections ({s?.scope === "platform" ? "platform operator" : "your organisations"})</h2>
      <p>
        <a href="/admin" data-testid="console-link">
          Open the operator console →
        </a>{" "}
        <span className="muted">live charts, who is connected, history and health</span>
      </p>
      {s && (
        <table>
          <tbody>
            <tr>
              <td>Open connections</td>
              <td data-testid="stats-total">{s.totalConnections}</td>
            </tr>
            <tr>
              <td>Average duration</td>
              <td>{Math.round(s.averageConnectionDurationMs / 1000)} s</td>
            </tr>
            <tr>
              <td>Events sent</td>
              <td>{s.eventsSent}</td>
            </tr>
            <tr>
              <td>Last event</td>
              <td>{s.lastEventAt ? new Date(s.lastEventAt).toLocaleTimeString() : "—"}</td>
            </tr>
            {s.platform && (
              <tr>
                <td>Events emitted / in replay log</td>
                <td>
                  {s.platform.bus.emitted} / {s.platform.bus.logSize}
                </td>
              </tr>
            )}
            {s.organizations.map((org) => (
              <OrganizationRows key={org.id} org={org} />
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function OrganizationRows({
  org,
}: {
  org: { name: string; connections: number; members: { name: string | null; connections: number }[] };
}) {
  return (
    <>
      <tr data-testid="stats-organization">
        <td>
          <strong>{org.name}</strong>
        </td>
        <td>{org.connections}</td>
      </tr>
      {org.members.map((member, i) => (
        <tr key={i}>
          <td className="muted">{member.name ?? "(no name)"}</td>
          <td>{member.connections}</td>
        </tr>
      ))}
    </>
  );
}
