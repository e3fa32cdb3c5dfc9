/**
 * Presence for every instance at once, on Redis. Each organisation keeps a
 * count of open connections per member; a Lua script moves the counts and
 * reports the 0 ⇄ 1 crossings, so exactly one instance (the one whose
 * connection made the change) announces each transition. Each instance's
 * connections are listed under its id: when an instance dies, a survivor
 * (RedisInstances) takes its connections out and announces who went offline.
 *
 * Keys (under the prefix): presence:c:<instance> (connection → member and
 * organisations), presence:n:<org> (member → connections), presence:m:<org>
 * (member → name and online-since), presence:u (member → connections).
 */
import type { RedisInstances } from "./instances-redis";
import type { OnlineMember, Presence, PresenceListener, PresenceMember } from "./presence";
import { RedisScript, type RedisClient } from "./redis-client";

interface Connection {
  userId: string;
  userName: string | null;
  orgs: string[];
  since: number;
}

// Moves one member's counts: +1 in ARGV-listed "enter" orgs first, then -1 in "leave" orgs.
// Returns the crossings: { org, 1|0, ... }.
const MOVE = `
local function user_left(prefix, user)
  if redis.call('HINCRBY', prefix .. 'presence:u', user, -1) <= 0 then redis.call('HDEL', prefix .. 'presence:u', user) end
end
local function move(prefix, user, member, enter, leave)
  local out = {}
  for _, org in ipairs(enter) do
    if redis.call('HINCRBY', prefix .. 'presence:n:' .. org, user, 1) == 1 then
      redis.call('HSET', prefix .. 'presence:m:' .. org, user, member)
      table.insert(out, org); table.insert(out, 1)
    end
  end
  for _, org in ipairs(leave) do
    if redis.call('HINCRBY', prefix .. 'presence:n:' .. org, user, -1) <= 0 then
      redis.call('HDEL', prefix .. 'presence:n:' .. org, user)
      redis.call('HDEL', prefix .. 'presence:m:' .. org, user)
      table.insert(out, org); table.insert(out, 0)
    end
  end
  return out
end
`;

// KEYS: this instance's connections; ARGV: prefix, connection id, connection JSON, member JSON
const JOIN = new RedisScript(`${MOVE}
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 1 then return {} end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
local c = cjson.decode(ARGV[3])
redis.call('HINCRBY', ARGV[1] .. 'presence:u', c.userId, 1)
return move(ARGV[1], c.userId, ARGV[4], c.orgs, {})
`);

// KEYS: this instance's connections; ARGV: prefix, connection id
const LEAVE = new RedisScript(`${MOVE}
local raw = redis.call('HGET', KEYS[1], ARGV[2])
if not raw then return {} end
redis.call('HDEL', KEYS[1], ARGV[2])
local c = cjson.decode(raw)
user_left(ARGV[1], c.userId)
return move(ARGV[1], c.userId, '', {}, c.orgs)
`);

// KEYS: this instance's connections; ARGV: prefix, connection id, new orgs JSON, member JSON
const UPDATE = new RedisScript(`${MOVE}
local raw = redis.call('HGET', KEYS[1], ARGV[2])
if not raw then return {} end
local c = cjson.decode(raw)
local old = c.orgs
c.orgs = cjson.decode(ARGV[3])
redis.call('HSET', KEYS[1], ARGV[2], cjson.encode(c))
return move(ARGV[1], c.userId, ARGV[4], c.orgs, old)
`);

// KEYS: a dead instance's connections; ARGV: prefix. Returns { user, name, org, online, ... }.
const DROP_INSTANCE = new RedisScript(`${MOVE}
local all = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 2, #all, 2 do
  local c = cjson.decode(all[i])
  user_left(ARGV[1], c.userId)
  local moved = move(ARGV[1], c.userId, '', {}, c.orgs)
  for j = 1, #moved, 2 do
    table.insert(out, all[i]); table.insert(out, moved[j])
  end
end
redis.call('DEL', KEYS[1])
return out
`);

export class RedisPresence implements Presence {
  constructor(
    private readonly client: RedisClient,
    private readonly instances: RedisInstances,
    private readonly prefix: string,
    private readonly onChange: PresenceListener = () => {},
  ) {
    instances.onDead((instanceId) => this.dropInstance(instanceId));
  }

  private connectionsKey(instanceId = this.instances.instanceId): string {
    return `${this.prefix}presence:c:${instanceId}`;
  }

  async join(connectionId: string, member: PresenceMember, organizationIds: readonly string[]): Promise<void> {
    const since = Date.now();
    const connection: Connection = {
      userId: member.userId,
      userName: member.userName,
      orgs: [...new Set(organizationIds)],
      since,
    };
    const reply = await JOIN.run(
      this.client,
      [this.connectionsKey()],
      [this.prefix, connectionId, JSON.stringify(connection), JSON.stringify({ name: member.userName, since })],
    );
    this.announce(member, reply);
  }

  async update(connectionId: string, organizationIds: readonly string[]): Promise<void> {
    const raw = (await this.client.call("HGET", this.connectionsKey(), connectionId)) as string | null;
    if (!raw) return;
    const connection = JSON.parse(raw) as Connection;
    const reply = await UPDATE.run(
      this.client,
      [this.connectionsKey()],
      [
        this.prefix,
        connectionId,
        JSON.stringify([...new Set(organizationIds)]),
        JSON.stringify({ name: connection.userName, since: Date.now() }),
      ],
    );
    this.announce(connection, reply);
  }

  async leave(connectionId: string): Promise<void> {
    const raw = (await this.client.call("HGET", this.connectionsKey(), connectionId)) as string | null;
    if (!raw) return;
    const connection = JSON.parse(raw) as Connection;
    const reply = await LEAVE.run(this.client, [this.connectionsKey()], [this.prefix, connectionId]);
    this.announce(connection, reply);
  }

  async online(organizationId: string): Promise<OnlineMember[]> {
    const counts = flatMap(await this.client.call("HGETALL", `${this.prefix}presence:n:${organizationId}`));
    const members = flatMap(await this.client.call("HGETALL", `${this.prefix}presence:m:${organizationId}`));
    const online: (OnlineMember & { sinceMs: number })[] = [];
    for (const [userId, count] of counts) {
      const member = JSON.parse(members.get(userId) ?? "{}") as { name?: string | null; since?: number };
      const sinceMs = member.since ?? 0;
      online.push({
        userId,
        name: member.name ?? null,
        connections: Number(count),
        onlineSince: new Date(sinceMs).toISOString(),
        sinceMs,
      });
    }
    return online.sort((a, b) => a.sinceMs - b.sinceMs).map(({ sinceMs: _sinceMs, ...member }) => member);
  }

  /** Open connections of a user, and of each organisation, on every instance (for the connection caps). */
  async clusterCounts(
    userId: string,
    organizationIds: readonly string[],
  ): Promise<{ user: number; organizations: Map<string, number> }> {
    const user = Number((await this.client.call("HGET", `${this.prefix}presence:u`, userId)) ?? 0);
    const organizations = new Map<string, number>();
    for (const organizationId of organizationIds) {
      const counts = (await this.client.call("HVALS", `${this.prefix}presence:n:${organizationId}`)) as string[];
      organizations.set(
        organizationId,
        counts.reduce((sum, n) => sum + Number(n), 0),
      );
    }
    return { user, organizations };
  }

  /** This instance's connections in Redis (leak checks). */
  async size(): Promise<number> {
    return Number(await this.client.call("HLEN", this.connectionsKey()));
  }

  /** Takes a dead instance's connections out of every count, announcing who went offline. */
  private async dropInstance(instanceId: string): Promise<void> {
    const reply = (await DROP_INSTANCE.run(this.client, [this.connectionsKey(instanceId)], [this.prefix])) as string[];
    for (let i = 0; i < reply.length; i += 2) {
      const connection = JSON.parse(reply[i]!) as Connection;
      this.onChange({
        organizationId: reply[i + 1]!,
        userId: connection.userId,
        userName: connection.userName,
        online: false,
      });
    }
  }

  private announce(member: { userId: string; userName: string | null }, reply: unknown): void {
    const crossings = reply as (string | number)[];
    for (let i = 0; i < crossings.length; i += 2) {
      this.onChange({
        organizationId: String(crossings[i]),
        userId: member.userId,
        userName: member.userName,
        online: Number(crossings[i + 1]) === 1,
      });
    }
  }
}

/** HGETALL as a map, whether the reply is a flat array (RESP2) or a map (RESP3). */
function flatMap(reply: unknown): Map<string, string> {
  if (reply instanceof Map) return reply as Map<string, string>;
  if (Array.isArray(reply)) {
    const map = new Map<string, string>();
    for (let i = 0; i < reply.length; i += 2) map.set(String(reply[i]), String(reply[i + 1]));
    return map;
  }
  return new Map(Object.entries((reply ?? {}) as Record<string, string>));
}
