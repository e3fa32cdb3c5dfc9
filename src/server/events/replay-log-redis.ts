/**
 * The replay log on Redis, shared by every instance: one Redis stream is the
 * order of all events (XADD assigns the ids, so whichever instance emits,
 * ids increase and a cursor issued by one instance is valid on all), and
 * each audience keeps its own stream of the same entries, under the same
 * ids, trimmed to its own count. Append and read are Lua scripts, so the
 * entries and the eviction floors they return are consistent.
 *
 * Keys (under `prefix`, a hash tag so a cluster keeps them on one slot):
 *   stream          every retained event, in id order, with its audience (the transport tails it);
 *                   what an audience evicts leaves it too, and past maxTotalEvents the oldest go first,
 *                   from their audience too
 *   a:<audience>    one audience's events (count-trimmed; expires when idle well past maxAgeMs)
 *   floors          per audience, the newest id it evicted (cursors below it may have missed events)
 *   origin          `<ms>-0.<epoch>`: below every id of this log, and the log's epoch; a flushed
 *                   or replaced Redis gets a new one, so cursors of the old one (which carry its
 *                   epoch) read as "unknown_cursor" whatever their number, never as a silent skip
 *   floor           the newest id evicted by the total: every cursor below it may have missed events
 *   head            the newest id
 */
import type { EventEnvelope } from "./envelope";
import { EventStoreUnavailableError } from "./errors";
import {
  assertCursorWithin,
  bareEventId,
  compareEventIds,
  epochOf,
  parseEventId,
  sameEpoch,
  type EventId,
} from "./event-id";
import { fieldOf, RedisScript, type RedisClient, type StreamEntry } from "./redis-client";
import type { Appended, EventDraft, ReplayLog, ReplayLogRetention, ReplayReader, ReplayResult } from "./replay-log";
import { audienceOf, type Audience } from "./targets";

export interface RedisReplayLogOptions extends ReplayLogRetention {
  /** Key prefix; keep the braces (a Redis Cluster hash tag). */
  prefix?: string;
}

/** Envelopes this process appended: already in the stream, so the transport need not add them. */
export const appendedEnvelopes = new WeakSet<EventEnvelope>();

const ENSURE_ORIGIN = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- A new log's epoch: the microsecond it began, in base 36 (an old log's cursors never carry it).
local function new_epoch()
  local t = redis.call('TIME')
  local n = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local digits, out = '0123456789abcdefghijklmnopqrstuvwxyz', ''
  repeat
    local d = n % 36
    out = string.sub(digits, d + 1, d + 1) .. out
    n = math.floor(n / 36)
  until n == 0
  return out
end
local function ensure_origin(key)
  local origin = redis.call('GET', key)
  if not origin then
    origin = (now_ms() - 1) .. '-0.' .. new_epoch()
    redis.call('SET', key, origin)
  end
  return origin
end
local function epoch_of(origin)
  return string.match(origin, '%.(.*)$') or ''
end
`;

// KEYS: stream, audience stream, floors, origin, head, floor[, once key]
// ARGV: envelope JSON (no id), audience, max per audience, max total, audience TTL ms, key prefix[, once TTL ms]
// Returns { id, 1 if the once key had been used (nothing appended) else 0, epoch }
const APPEND = new RedisScript(`${ENSURE_ORIGIN}
local epoch = epoch_of(ensure_origin(KEYS[4]))
if KEYS[7] then
  local earlier = redis.call('GET', KEYS[7])
  if earlier then return { earlier, 1, epoch } end
end
local id = redis.call('XADD', KEYS[1], '*', 'e', ARGV[1], 'a', ARGV[2], 'p', epoch)
if KEYS[7] then redis.call('SET', KEYS[7], id, 'PX', ARGV[7]) end
redis.call('XADD', KEYS[2], id, 'e', ARGV[1], 'p', epoch)
local over = redis.call('XLEN', KEYS[2]) - tonumber(ARGV[3])
if over > 0 then
  local cut = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', over)
  for _, entry in ipairs(cut) do redis.call('XDEL', KEYS[1], entry[1]) end
  redis.call('HSET', KEYS[3], ARGV[2], cut[#cut][1])
  redis.call('XTRIM', KEYS[2], 'MAXLEN', ARGV[3])
end
redis.call('PEXPIRE', KEYS[2], ARGV[5])
-- The total: the oldest events go first, whatever their audience (same hash tag, same slot).
local total_over = redis.call('XLEN', KEYS[1]) - tonumber(ARGV[4])
if total_over > 0 then
  local gone = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', total_over)
  for _, entry in ipairs(gone) do
    local fields = entry[2]
    for j = 1, #fields, 2 do
      if fields[j] == 'a' then redis.call('XDEL', ARGV[6] .. 'a:' .. fields[j + 1], entry[1]) end
    end
    redis.call('XDEL', KEYS[1], entry[1])
  end
  redis.call('SET', KEYS[6], gone[#gone][1])
end
redis.call('SET', KEYS[5], id)
return { id, 0, epoch }
`);

// KEYS: floors, origin, head, floor, then one stream per audience
// ARGV: cursor, max age ms, then the audiences, then the stream's key (entries evicted by age leave it too)
// Returns: { now, origin, head, floor, floor1, entries1, floor2, entries2, ... }
const READ = new RedisScript(`${ENSURE_ORIGIN}
local origin = ensure_origin(KEYS[2])
local head = redis.call('GET', KEYS[3]) or origin
local now = now_ms()
local cutoff = (now - tonumber(ARGV[2])) .. '-0'
local result = { now, origin, head, redis.call('GET', KEYS[4]) or '' }
for i = 5, #KEYS do
  local audience = ARGV[i - 2]
  -- Age: the newest entry before the cutoff is this audience's floor from now on.
  local old = redis.call('XRANGE', KEYS[i], '-', '(' .. cutoff)
  if #old > 0 then
    for _, entry in ipairs(old) do redis.call('XDEL', ARGV[#ARGV], entry[1]) end
    redis.call('HSET', KEYS[1], audience, old[#old][1])
    redis.call('XTRIM', KEYS[i], 'MINID', cutoff)
  end
  table.insert(result, redis.call('HGET', KEYS[1], audience) or '')
  table.insert(result, redis.call('XRANGE', KEYS[i], '(' .. ARGV[1], '+'))
end
return result
`);

// Returns { origin, head or "" }
const HEAD = new RedisScript(`${ENSURE_ORIGIN}
local origin = ensure_origin(KEYS[1])
return { origin, redis.call('GET', KEYS[2]) or '' }
`);

/** A failed Redis call as the layer's typed error: the caller learns the event was not recorded. */
async function unavailableWhenDown<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (error) {
    throw new EventStoreUnavailableError(
      `the event store (Redis) is unavailable; nothing was recorded: ${(error as Error).message}`,
    );
  }
}

/** A stream id with its log's epoch: the id clients see and resume from. */
const withEpoch = (id: string, epoch: string): EventId => (epoch ? `${id}.${epoch}` : id);

export function envelopeOf(entry: StreamEntry): EventEnvelope {
  const draft = JSON.parse(fieldOf(entry, "e") ?? "null") as EventDraft;
  return Object.freeze({ ...draft, id: withEpoch(entry[0], fieldOf(entry, "p") ?? "") });
}

export class RedisReplayLog implements ReplayLog {
  readonly prefix: string;
  private readonly maxTotalEvents: number;
  /** Idle audience streams expire after this; cursors older than it are answered conservatively (a gap). */
  private readonly audienceTtlMs: number;
  private readonly onceTtlMs: number;

  constructor(
    private readonly client: RedisClient,
    private readonly options: RedisReplayLogOptions,
  ) {
    this.prefix = options.prefix ?? "{t3-live-events}:";
    this.maxTotalEvents = options.maxTotalEvents ?? options.maxEvents * 100;
    this.audienceTtlMs = options.maxAgeMs * 2 + 60_000;
    // A key outlives its event: an outbox row can stay unmarked while its database is down.
    this.onceTtlMs = Math.max(this.audienceTtlMs, 24 * 60 * 60_000);
  }

  key(name: string): string {
    return `${this.prefix}${name}`;
  }

  async append(draft: EventDraft): Promise<EventEnvelope> {
    return (await this.appendWith(draft)).envelope;
  }

  appendOnce(draft: EventDraft, key: string): Promise<Appended> {
    return this.appendWith(draft, key);
  }

  private async appendWith(draft: EventDraft, onceKey?: string): Promise<Appended> {
    const audience = audienceOf(draft.target);
    const once = onceKey === undefined ? null : { key: this.key(`once:${onceKey}`), ttlMs: this.onceTtlMs };
    const [id, repeated, epoch] = (await unavailableWhenDown(
      APPEND.run(
        this.client,
        [
          this.key("stream"),
          this.key(`a:${audience}`),
          this.key("floors"),
          this.key("origin"),
          this.key("head"),
          this.key("floor"),
          ...(once ? [once.key] : []),
        ],
        [
          JSON.stringify(draft),
          audience,
          this.options.maxEvents,
          this.maxTotalEvents,
          this.audienceTtlMs,
          this.prefix,
          ...(once ? [once.ttlMs] : []),
        ],
      ),
    )) as [string, number, string];
    const envelope: EventEnvelope = Object.freeze({ ...draft, id: withEpoch(id, epoch) });
    appendedEnvelopes.add(envelope);
    return { envelope, repeated: repeated === 1 };
  }

  async head(): Promise<EventId> {
    const [origin, head] = (await HEAD.run(this.client, [this.key("origin"), this.key("head")], [])) as [
      string,
      string,
    ];
    return head ? withEpoch(head, epochOf(origin)) : origin;
  }

  async size(): Promise<number> {
    return Number(await this.client.call("XLEN", this.key("stream")));
  }

  async retained(audience: Audience): Promise<number> {
    return Number(await this.client.call("XLEN", this.key(`a:${audience}`)));
  }

  async readAfter(afterId: EventId, reader?: ReplayReader): Promise<ReplayResult> {
    parseEventId(afterId); // before Redis sees it
    const cursor = bareEventId(afterId);
    const audiences: Audience[] = reader ? [...new Set(reader.audiences)] : await this.allAudiences();
    const reply = (await READ.run(
      this.client,
      [
        this.key("floors"),
        this.key("origin"),
        this.key("head"),
        this.key("floor"),
        ...audiences.map((a) => this.key(`a:${a}`)),
      ],
      [cursor, this.options.maxAgeMs, ...audiences, this.key("stream")],
    )) as [number, string, string, string, ...(string | StreamEntry[])[]];
    const [now, origin, bareHead, floor] = reply;
    const epoch = epochOf(origin);
    const head = bareHead === origin ? origin : withEpoch(bareHead, epoch);
    assertCursorWithin(afterId, head);

    const floors: string[] = floor ? [floor] : [];
    const events: EventEnvelope[] = [];
    let oldest: EventId | null = null;
    for (let i = 4; i < reply.length; i += 2) {
      if (reply[i]) floors.push(reply[i] as string);
      const entries = reply[i + 1] as StreamEntry[];
      if (entries.length > 0 && (oldest === null || compareEventIds(entries[0]![0], oldest) < 0))
        oldest = withEpoch(entries[0]![0], epoch);
      for (const entry of entries) {
        const envelope = envelopeOf(entry);
        if (!reader?.filter || reader.filter(envelope)) events.push(envelope);
      }
    }
    if (!sameEpoch(afterId, origin) || compareEventIds(afterId, origin) < 0) {
      return { kind: "gap", reason: "unknown_cursor", oldestAvailableId: oldest, head };
    }
    // An audience idle for longer than its TTL expired with whatever it held: a cursor
    // that old may have missed those events, and nothing records them any more.
    const expiredBefore = `${now - this.audienceTtlMs}-0`;
    if (compareEventIds(afterId, expiredBefore) < 0 || floors.some((floor) => compareEventIds(afterId, floor) < 0)) {
      return { kind: "gap", reason: "retention_exceeded", oldestAvailableId: oldest, head };
    }
    if (audiences.length > 1) events.sort((a, b) => compareEventIds(a.id, b.id));
    return { kind: "events", events, head };
  }

  /** Every audience with history (a reader-less read: admin tools and tests). */
  private async allAudiences(): Promise<Audience[]> {
    const found = new Set<Audience>();
    let cursor = "0";
    const pattern = `${this.key("a:")}*`;
    do {
      const [next, keys] = (await this.client.call("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)) as [
        string,
        string[],
      ];
      cursor = next;
      for (const key of keys) found.add(key.slice(this.key("a:").length) as Audience);
    } while (cursor !== "0");
    return [...found];
  }
}
