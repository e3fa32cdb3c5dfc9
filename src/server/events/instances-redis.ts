/**
 * The instances of one deployment, as Redis knows them: each keeps a key
 * alive with a heartbeat (and a snapshot of what it holds, for the admin
 * stats); an instance whose key expired (killed, frozen, cut off) is found
 * by any survivor, which cleans up after it exactly once.
 */
import { RedisScript, type RedisClient } from "./redis-client";

export interface RedisInstancesOptions {
  prefix: string;
  instanceId: string;
  /** How often this instance says it is alive; it counts as gone after three missed beats. */
  heartbeatMs?: number;
  /** What this instance holds, published with each heartbeat. */
  describe?: () => Record<string, unknown>;
}

export interface InstanceInfo {
  instanceId: string;
  info: Record<string, unknown>;
}

// KEYS: instances set, alive key of the dead candidate; ARGV: candidate id
const CLAIM_DEAD = new RedisScript(`
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
return redis.call('SREM', KEYS[1], ARGV[1])
`);

export class RedisInstances {
  private timer: ReturnType<typeof setInterval> | null = null;
  private readonly deadHandlers = new Set<(instanceId: string) => Promise<void>>();
  readonly heartbeatMs: number;

  constructor(
    private readonly client: RedisClient,
    private readonly options: RedisInstancesOptions,
  ) {
    this.heartbeatMs = options.heartbeatMs ?? 5_000;
  }

  get instanceId(): string {
    return this.options.instanceId;
  }

  private key(name: string): string {
    return `${this.options.prefix}${name}`;
  }

  /** Starts beating (and looking for dead instances) until `stop`. */
  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => {
      void this.beat()
        .then(() => this.sweep())
        .catch(() => {});
    }, this.heartbeatMs);
    this.timer.unref();
  }

  /** Called once per dead instance, by one survivor. */
  onDead(handler: (instanceId: string) => Promise<void>): void {
    this.deadHandlers.add(handler);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.client.call("DEL", this.key(`alive:${this.instanceId}`)).catch(() => {});
  }

  private async beat(): Promise<void> {
    const info = JSON.stringify({ ...this.options.describe?.(), at: new Date().toISOString() });
    await this.client.call("SADD", this.key("instances"), this.instanceId);
    await this.client.call("SET", this.key(`alive:${this.instanceId}`), info, "PX", this.heartbeatMs * 3);
  }

  /** Finds instances whose heartbeat expired and cleans up after each (at most one survivor does). */
  async sweep(): Promise<void> {
    const ids = (await this.client.call("SMEMBERS", this.key("instances"))) as string[];
    for (const id of ids) {
      if (id === this.instanceId) continue;
      const claimed = await CLAIM_DEAD.run(this.client, [this.key("instances"), this.key(`alive:${id}`)], [id]);
      if (Number(claimed) !== 1) continue;
      for (const handler of this.deadHandlers) await handler(id);
    }
  }

  /** Every live instance with what it last said it holds. */
  async list(): Promise<InstanceInfo[]> {
    const ids = (await this.client.call("SMEMBERS", this.key("instances"))) as string[];
    const result: InstanceInfo[] = [];
    for (const id of ids.sort()) {
      const raw = (await this.client.call("GET", this.key(`alive:${id}`))) as string | null;
      if (raw) result.push({ instanceId: id, info: JSON.parse(raw) as Record<string, unknown> });
    }
    return result;
  }
}
