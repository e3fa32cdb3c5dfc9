/**
 * The operator console's figures: once a second, the difference of the
 * counters the layer keeps where things happen (the bus's emits and lag, the
 * registry's writes, resumes and gaps, the transport's disconnects, the rate
 * limits' refusals, each also per organisation), kept for 15 minutes and
 * published as `console.sample` events: the platform's to operators, each
 * organisation's to its administrators. The same counters feed Prometheus
 * (metrics.ts); nothing here walks the open connections.
 *
 * Each instance samples itself; over Redis every console receives every
 * instance's samples and adds them up (open streams are shown per instance).
 *
 * Bounds: an organisation is sampled while it has open streams here or
 * something was counted for it in the last 15 minutes; at most
 * `MAX_ORGANIZATIONS` organisations a second, the busiest first.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";

import { lagQuantile, type EventEnvelope, type TenantCounters } from "~/server/events";
import type { EventPayload } from "~/server/events";
import type { Runtime } from "~/server/runtime";
import { logger } from "./logger";

export type ConsoleSample = EventPayload<"console.sample">;
export type ConsoleHealth = NonNullable<ConsoleSample["health"]>;

/** Samples kept per scope: 15 minutes at one a second. */
export const CONSOLE_WINDOW = 900;
/** Organisations sampled per second at most. */
export const MAX_ORGANIZATIONS = 500;
/** Recent events kept per scope, and organisations whose recent events are kept. */
export const RECENT_EVENTS = 100;
const MAX_RECENT_ORGANIZATIONS = 1_000;
const HEALTH_CHECK_MS = 5_000;

/** The cumulative counts a sample is the difference of. */
interface Reading {
  opened: number;
  emitted: number;
  written: number;
  resumes: number;
  replayed: number;
  gapsRetention: number;
  gapsUnknown: number;
  slowConsumer: number;
  stalled: number;
  rateLimited: number;
  lag: Float64Array;
}

const diff = (now: Reading, before: Reading | undefined, key: Exclude<keyof Reading, "lag">) =>
  Math.max(0, now[key] - (before?.[key] ?? 0));

function tenantReading(counters: TenantCounters): Reading {
  return {
    opened: counters.opened,
    emitted: counters.emitted,
    written: counters.written,
    resumes: counters.resumes,
    replayed: counters.replayed,
    gapsRetention: counters.gaps.retention_exceeded,
    gapsUnknown: counters.gaps.unknown_cursor,
    slowConsumer: counters.slowConsumerDisconnects,
    stalled: counters.stalledDisconnects,
    rateLimited: counters.rateLimited,
    lag: counters.lag.snapshot(),
  };
}

/** A fixed-size ring of samples, oldest first when read. */
class Ring {
  private readonly items: (ConsoleSample | undefined)[] = new Array<ConsoleSample | undefined>(CONSOLE_WINDOW);
  private next = 0;
  lastActiveAt = 0;

  push(sample: ConsoleSample): void {
    this.items[this.next] = sample;
    this.next = (this.next + 1) % CONSOLE_WINDOW;
  }

  list(): ConsoleSample[] {
    const out: ConsoleSample[] = [];
    for (let i = 0; i < CONSOLE_WINDOW; i++) {
      const sample = this.items[(this.next + i) % CONSOLE_WINDOW];
      if (sample) out.push(sample);
    }
    return out;
  }
}

export class ConsoleTimeline {
  private timer: NodeJS.Timeout | null = null;
  private readonly startedAt = Date.now();
  private previousPlatform: Reading | undefined;
  private readonly previousTenant = new Map<string, Reading>();
  private readonly platform = new Ring();
  private readonly tenants = new Map<string, Ring>();
  private readonly loopDelay: IntervalHistogram = monitorEventLoopDelay({ resolution: 20 });
  private health: Omit<ConsoleHealth, "uptimeS" | "eventLoopLagP99"> = {
    version: "",
    redis: "none",
    database: "ok",
    outboxPending: null,
    relayLagMs: null,
  };
  private healthCheckedAt = 0;
  private readonly recentPlatform: EventEnvelope[] = [];
  private readonly recentByOrganization = new Map<string, EventEnvelope[]>();
  private detachPublished: (() => void) | null = null;

  constructor(
    private readonly runtime: Runtime,
    private readonly options: { version: string; intervalMs?: number },
  ) {
    this.health.version = options.version;
  }

  start(): void {
    if (this.timer) return;
    this.loopDelay.enable();
    this.previousPlatform = this.platformReading();
    this.detachPublished = this.runtime.events.bus.onPublished((envelope) => this.remember(envelope));
    this.timer = setInterval(() => {
      void this.tick().catch((error: unknown) => {
        // Redis down fails every second's publish: said once a minute, with how many were not.
        const said = this.runtime.expectedFailures.take("console.sample_failed");
        if (said) logger.warn({ event: "console.sample_failed", err: error, ...said }, "console sample not published");
      });
    }, this.options.intervalMs ?? 1_000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.loopDelay.disable();
    this.detachPublished?.();
  }

  /** The newest events this instance published (newest first): every one, or one organisation's. */
  recentEvents(organizationId?: string): readonly EventEnvelope[] {
    const held = organizationId === undefined ? this.recentPlatform : this.recentByOrganization.get(organizationId);
    return [...(held ?? [])].reverse();
  }

  private remember(envelope: EventEnvelope): void {
    push(this.recentPlatform, envelope);
    const target = envelope.target;
    const organizationId =
      target.kind === "organization" || target.kind === "metadata" ? target.organizationId : undefined;
    if (!organizationId) return;
    let held = this.recentByOrganization.get(organizationId);
    if (!held) {
      if (this.recentByOrganization.size >= MAX_RECENT_ORGANIZATIONS) {
        // The organisation that was first seen longest ago makes room.
        this.recentByOrganization.delete(this.recentByOrganization.keys().next().value!);
      }
      this.recentByOrganization.set(organizationId, (held = []));
    }
    push(held, envelope);
  }

  /** This instance's last 15 minutes for the platform. */
  platformHistory(): ConsoleSample[] {
    return this.platform.list();
  }

  /** This instance's last 15 minutes for one organisation (empty when it was not active here). */
  organizationHistory(organizationId: string): ConsoleSample[] {
    return this.tenants.get(organizationId)?.list() ?? [];
  }

  /** The latest health reading of this instance. */
  currentHealth(): ConsoleHealth {
    return {
      ...this.health,
      uptimeS: Math.round((Date.now() - this.startedAt) / 1000),
      eventLoopLagP99: this.loopLagP99(),
    };
  }

  private loopLagP99(): number | null {
    const p99 = this.loopDelay.percentile(99);
    return Number.isFinite(p99) && p99 > 0 ? Math.round(p99 / 1e4) / 100 : null;
  }

  private platformReading(): Reading {
    const { events, sse, rateLimitRefusals } = this.runtime;
    const bus = events.bus.totals();
    const connections = events.registry.counters();
    const hub = sse.hub.stats();
    return {
      opened: connections.opened,
      emitted: bus.emitted,
      written: connections.eventsSent,
      resumes: connections.resumes,
      replayed: connections.eventsReplayed,
      gapsRetention: connections.gaps.retention_exceeded,
      gapsUnknown: connections.gaps.unknown_cursor,
      slowConsumer: hub.slowConsumerDisconnects,
      stalled: hub.stalledDisconnects,
      rateLimited: rateLimitRefusals.emit + rateLimitRefusals.stream_open + rateLimitRefusals.sign_in,
      lag: events.bus.lag.snapshot(),
    };
  }

  private sampleOf(
    now: Reading,
    before: Reading | undefined,
    at: number,
    streams: number,
  ): Omit<ConsoleSample, "scope" | "instanceId"> {
    const lagBefore = before?.lag ?? new Float64Array(now.lag.length);
    return {
      at,
      emitted: diff(now, before, "emitted"),
      written: diff(now, before, "written"),
      streams,
      opened: diff(now, before, "opened"),
      lagP50: lagQuantile(lagBefore, now.lag, 0.5),
      lagP99: lagQuantile(lagBefore, now.lag, 0.99),
      resumes: diff(now, before, "resumes"),
      replayed: diff(now, before, "replayed"),
      gapsRetention: diff(now, before, "gapsRetention"),
      gapsUnknown: diff(now, before, "gapsUnknown"),
      slowConsumer: diff(now, before, "slowConsumer"),
      stalled: diff(now, before, "stalled"),
      rateLimited: diff(now, before, "rateLimited"),
    };
  }

  /** One second: read, keep, publish. */
  async tick(): Promise<void> {
    const at = Date.now();
    const { events, instanceId } = this.runtime;
    if (at - this.healthCheckedAt >= HEALTH_CHECK_MS) {
      this.healthCheckedAt = at;
      await this.checkHealth();
    }

    const platformNow = this.platformReading();
    const platform: ConsoleSample = {
      instanceId,
      scope: "platform",
      ...this.sampleOf(platformNow, this.previousPlatform, at, events.registry.size),
      health: this.currentHealth(),
    };
    this.previousPlatform = platformNow;
    this.loopDelay.reset();
    this.platform.push(platform);

    const tenantSamples: ConsoleSample[] = [];
    for (const organizationId of events.registry.tenants.organizationIds()) {
      const counters = events.registry.tenants.get(organizationId)!;
      const now = tenantReading(counters);
      const before = this.previousTenant.get(organizationId);
      this.previousTenant.set(organizationId, now);
      const streams = events.registry.connectionsIn(organizationId);
      const sample: ConsoleSample = {
        instanceId,
        scope: "organization",
        organizationId,
        ...this.sampleOf(now, before, at, streams),
      };
      let ring = this.tenants.get(organizationId);
      const active =
        streams > 0 || sample.emitted + sample.written + sample.resumes + sample.rateLimited + sample.stalled > 0;
      if (active) {
        if (!ring) this.tenants.set(organizationId, (ring = new Ring()));
        ring.lastActiveAt = at;
      }
      if (!ring) continue;
      if (at - ring.lastActiveAt > CONSOLE_WINDOW * 1_000) {
        this.tenants.delete(organizationId);
        continue;
      }
      ring.push(sample);
      tenantSamples.push(sample);
    }

    // Published after every reading is taken, so publishing cannot count into this second.
    const bus = events.bus;
    await bus.emit("console.sample", platform, { kind: "metadata", match: { role: "OPERATOR" } });
    tenantSamples.sort((a, b) => b.written + b.emitted - (a.written + a.emitted));
    for (const sample of tenantSamples.slice(0, MAX_ORGANIZATIONS)) {
      const organizationId = sample.organizationId!;
      await bus.emit("console.sample", sample, {
        kind: "metadata",
        organizationId,
        match: { [`admin:${organizationId}`]: "true" },
      });
    }
  }

  private async checkHealth(): Promise<void> {
    const { redis, database } = this.runtime;
    this.health.redis = redis ? (redis.status === "ready" ? "ok" : "down") : "none";
    try {
      const prisma = database.prisma;
      const [row] = await withTimeout(
        prisma.$queryRaw<{ pending: bigint; oldest: Date | null }[]>`
          SELECT count(*) AS pending, min("createdAt") AS oldest FROM "OutboxEvent" WHERE "publishedAt" IS NULL`,
        2_000,
      );
      this.health.database = "ok";
      this.health.outboxPending = Number(row?.pending ?? 0);
      this.health.relayLagMs = row?.oldest ? Math.max(0, Date.now() - row.oldest.getTime()) : null;
    } catch {
      this.health.database = "down";
      this.health.outboxPending = null;
      this.health.relayLagMs = null;
    }
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    }),
  ]);
}

function push(held: EventEnvelope[], envelope: EventEnvelope): void {
  held.push(envelope);
  if (held.length > RECENT_EVENTS) held.shift();
}
