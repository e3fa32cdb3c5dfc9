/**
 * Event ids as subscribers see them.
 *
 * Inside the layer, ids are one ordered sequence for every tenant (that is
 * what makes a single cursor resume exactly). Shown as they are, they would
 * tell a subscriber about events it is not entitled to: two of its events
 * with ids seven apart say that six events went elsewhere in between, and
 * the millisecond part says when. So every id that leaves the layer is sealed:
 * encrypted and authenticated with a key the server keeps, and opened again
 * when a client sends it back as its cursor.
 *
 * - An event's sealed id is deterministic (SIV: the IV is a MAC of the id), so
 *   every recipient gets the same bytes, the frame is still built once per
 *   event, and a replayed event carries the id it had live.
 * - Cursors that are not an event the subscriber received (`system.ready`,
 *   `system.gap`, presence) are sealed with a salt (`sealFresh`): two readings of
 *   the same head look unrelated, so connecting twice says nothing about
 *   whether anything happened in between.
 * - Sealed ids only compare for equality. Clients order events by arrival,
 *   which the server keeps in id order.
 * - Anything that does not open (forged, truncated, from another secret or a
 *   plain id from before sealing) is an InvalidEventIdError: the client drops
 *   its cursor and starts over as after a gap.
 *
 * Every instance of a deployment must share the secret, as they share Auth.js's.
 */
import { createCipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from "node:crypto";

import type { StreamItem } from "./envelope";
import { InvalidEventIdError } from "./errors";
import { parseEventId, type EventId } from "./event-id";

const TAG_BYTES = 16;
const SALT_BYTES = 6;
/** Separates an id from its salt: ids are digits, `-` and `.` only. */
const SALT_MARK = 0x21; // "!"
/** Longest sealed text accepted: an id with an epoch and salt stays well under it. */
export const MAX_SEALED_CURSOR_LENGTH = 128;
/** A tag and the shortest id ("0-0"), in base64url. */
const MIN_SEALED_CURSOR_LENGTH = Math.ceil(((TAG_BYTES + 3) * 4) / 3);
const SEALED = /^[A-Za-z0-9_-]+$/;

export class CursorSealer {
  private keys: { encryption: Buffer; mac: Buffer } | null = null;
  private readonly saltPrefix = randomBytes(SALT_BYTES - 4);
  private saltCounter = 0;
  /** One sealed item per event item, shared by every recipient (frames are cached per item object). */
  private readonly sealedItems = new WeakMap<StreamItem, StreamItem>();
  private lastItem: StreamItem | null = null;
  private lastSealedItem: StreamItem | null = null;

  /** @param secret the deployment's secret; keys are derived from it when first needed. */
  constructor(private readonly secret: string) {}

  /** Derived on first use: a layer made while the app is built (no secret yet) never seals anything. */
  private get derived(): { encryption: Buffer; mac: Buffer } {
    if (!this.keys) {
      if (!this.secret) throw new Error("event ids cannot be sealed without a secret (set AUTH_SECRET)");
      const derive = (info: string) => Buffer.from(hkdfSync("sha256", this.secret, "t3-live-events/cursor", info, 32));
      this.keys = { encryption: derive("encryption"), mac: derive("authentication") };
    }
    return this.keys;
  }

  /** The id a subscriber sees for an event: the same for every recipient. */
  seal(id: EventId): string {
    return this.sealBytes(Buffer.from(id, "latin1"));
  }

  /**
   * A cursor for `id` that cannot be compared with any other sealing of it.
   * The salt only has to differ between sealings (SIV makes sealings of
   * different texts unrelated), so it is this process's random prefix and a
   * counter, not fresh randomness per connect.
   */
  sealFresh(id: EventId): string {
    const plain = Buffer.allocUnsafe(id.length + 1 + SALT_BYTES);
    plain.write(id, 0, "latin1");
    plain[id.length] = SALT_MARK;
    this.saltPrefix.copy(plain, id.length + 1);
    plain.writeUInt32BE((this.saltCounter = (this.saltCounter + 1) >>> 0), id.length + 3);
    return this.sealBytes(plain);
  }

  /** The id a sealed cursor stands for; throws InvalidEventIdError when it was not sealed here. */
  open(sealed: string): EventId {
    const refuse = () =>
      new InvalidEventIdError(
        "lastEventId was not issued here (or the server's secret changed); reconnect without it and refetch state",
      );
    if (sealed.length < MIN_SEALED_CURSOR_LENGTH || sealed.length > MAX_SEALED_CURSOR_LENGTH || !SEALED.test(sealed)) {
      throw new InvalidEventIdError(
        `lastEventId ${JSON.stringify(sealed.slice(0, 80))} is malformed; expected a cursor as the stream sent it`,
      );
    }
    const bytes = Buffer.from(sealed, "base64url");
    const tag = bytes.subarray(0, TAG_BYTES);
    const plain = this.ctr(tag, bytes.subarray(TAG_BYTES));
    if (!timingSafeEqual(tag, this.mac(plain))) throw refuse();
    const mark = plain.indexOf(SALT_MARK);
    const id = plain.subarray(0, mark < 0 ? plain.length : mark).toString("latin1");
    try {
      parseEventId(id);
    } catch {
      throw refuse();
    }
    return id;
  }

  /** An event's stream item with its id sealed: one object per event, whoever receives it. */
  sealEvent(item: StreamItem): StreamItem {
    // A fan-out asks for the same item once per recipient, one after another.
    if (item === this.lastItem) return this.lastSealedItem!;
    let sealed = this.sealedItems.get(item);
    if (!sealed) {
      const id = this.seal(item.id);
      sealed = Object.freeze({ id, event: Object.freeze({ ...item.event, id }) });
      this.sealedItems.set(item, sealed);
    }
    this.lastItem = item;
    this.lastSealedItem = sealed;
    return sealed;
  }

  private sealBytes(plain: Buffer): string {
    const tag = this.mac(plain);
    return Buffer.concat([tag, this.ctr(tag, plain)]).toString("base64url");
  }

  private mac(plain: Buffer): Buffer {
    return createHmac("sha256", this.derived.mac).update(plain).digest().subarray(0, TAG_BYTES);
  }

  /** AES-256-CTR with the tag as its counter block: the same call encrypts and decrypts. */
  private ctr(tag: Buffer, input: Buffer): Buffer {
    const cipher = createCipheriv("aes-256-ctr", this.derived.encryption, tag);
    return Buffer.concat([cipher.update(input), cipher.final()]);
  }
}
