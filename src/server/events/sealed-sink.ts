/**
 * The edge where ids leave the layer: every item a subscription writes is
 * passed on with its ids sealed (cursor-sealer.ts). Events get their shared
 * sealed id; `system.ready`, `system.gap` and events that are not replayed
 * (presence) get cursors sealed afresh, and the cursor the client sent comes
 * back to it exactly as it sent it.
 */
import type { CursorSealer } from "./cursor-sealer";
import { coreEvents, replayedIn, type EventName } from "./catalog";
import type { StreamItem } from "./envelope";
import type { EventId } from "./event-id";
import type { SubscriptionSink } from "./subscription";

export class SealedSink implements SubscriptionSink {
  /** The last item written, so a later gap names it as the client knows it (an event's sealing is repeatable). */
  private lastId: EventId | null = null;
  private lastWasEvent = false;

  /**
   * @param sink where the sealed items go.
   * @param sent the cursor as the client sent it (sealed), and `opened`, the id it stands for.
   */
  constructor(
    private readonly sink: SubscriptionSink,
    private readonly sealer: CursorSealer,
    private readonly sent: string | null,
    private readonly opened: EventId | null,
    /** Whether events of a name are history (in the stream) or state (presence): the layer's catalog says. */
    private readonly isReplayed: (name: EventName) => boolean = replayedIn(coreEvents),
  ) {}

  write(item: StreamItem): boolean {
    return this.sink.write(this.sealed(item));
  }

  end(error?: unknown): void {
    this.sink.end(error);
  }

  private sealed(item: StreamItem): StreamItem {
    const { event } = item;
    switch (event.name) {
      case "system.ready": {
        const id = this.sealer.sealFresh(item.id);
        const data = { ...event.data, resumedFrom: this.echo(event.data.resumedFrom) };
        this.moved(item.id, false);
        return { id, event: { ...event, id, data } };
      }
      case "system.gap": {
        const id = this.sealer.sealFresh(item.id);
        const { lastEventId, oldestAvailableId } = event.data;
        const data = {
          ...event.data,
          lastEventId: this.echo(lastEventId)!,
          oldestAvailableId: oldestAvailableId === null ? null : this.sealer.sealFresh(oldestAvailableId),
        };
        this.moved(item.id, false);
        return { id, event: { ...event, id, data } };
      }
      default: {
        if (this.isReplayed(event.name)) {
          this.moved(item.id, true);
          return this.sealer.sealEvent(item);
        }
        // Not in the stream: it stands where the subscriber stands (the cursor does not move),
        // under a sealing of its own.
        const id = this.sealer.sealFresh(item.id);
        return { id, event: { ...event, id } };
      }
    }
  }

  private moved(id: EventId, event: boolean): void {
    this.lastId = id;
    this.lastWasEvent = event;
  }

  /** The client's own cursor back as it sent it (or as its last event gave it); any other id sealed afresh. */
  private echo(id: EventId | null): string | null {
    if (id === null) return null;
    if (id === this.opened) return this.sent;
    if (id === this.lastId && this.lastWasEvent) return this.sealer.seal(id);
    return this.sealer.sealFresh(id);
  }
}
