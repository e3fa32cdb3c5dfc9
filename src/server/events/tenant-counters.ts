/**
 * What happens per organisation, counted where it happens: the bus counts an
 * organisation's emits, the registry its streams' openings, writes, resumes and gaps,
 * the transport its slow and stalled disconnects, the app its rate-limit
 * refusals. Readers (the operator console, per tenant) take the counts as
 * they are; nothing walks the open connections to make them.
 *
 * Counters are cumulative. An organisation's entry is made on its first
 * count and kept while the process runs: one small object per organisation
 * that was ever active here.
 */
import { DeliveryLag } from "./delivery-lag";
import type { GapReason } from "./replay-log";

export class TenantCounters {
  /** Events addressed to the organisation (or a match inside it) published here. */
  emitted = 0;
  /** Events written to its members' streams here (live and replayed). */
  written = 0;
  /** Streams of its members opened here (a stream replaced within a second leaves their number unchanged). */
  opened = 0;
  resumes = 0;
  replayed = 0;
  readonly gaps: Record<GapReason, number> = { retention_exceeded: 0, unknown_cursor: 0 };
  slowConsumerDisconnects = 0;
  stalledDisconnects = 0;
  rateLimited = 0;
  /** Lag of the events addressed to the organisation. */
  readonly lag = new DeliveryLag();
}

export class TenantCountersByOrganization {
  private readonly byOrganization = new Map<string, TenantCounters>();

  /** The organisation's counters, made on first use. */
  of(organizationId: string): TenantCounters {
    let counters = this.byOrganization.get(organizationId);
    if (!counters) this.byOrganization.set(organizationId, (counters = new TenantCounters()));
    return counters;
  }

  /** The organisation's counters if it was ever active here. */
  get(organizationId: string): TenantCounters | undefined {
    return this.byOrganization.get(organizationId);
  }

  organizationIds(): IterableIterator<string> {
    return this.byOrganization.keys();
  }
}
