/**
 * The Redis calls the Redis engines make, as a structural interface: the app
 * passes an ioredis client in (src/server/event-layer.ts), and the core
 * imports no Redis library. Lua scripts run by their SHA once Redis knows
 * them, so an emit does not resend the script text.
 */
import { createHash } from "node:crypto";

export type RedisArgument = string | number;

export interface RedisClient {
  call(command: string, ...args: RedisArgument[]): Promise<unknown>;
  quit(): Promise<unknown>;
  disconnect(): void;
}

export class RedisScript {
  private readonly sha: string;

  constructor(private readonly source: string) {
    this.sha = createHash("sha1").update(source).digest("hex");
  }

  async run(client: RedisClient, keys: readonly string[], args: readonly RedisArgument[]): Promise<unknown> {
    try {
      return await client.call("EVALSHA", this.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!String((error as Error).message).startsWith("NOSCRIPT")) throw error;
      return client.call("EVAL", this.source, keys.length, ...keys, ...args);
    }
  }
}

/** A stream entry as Redis returns it: `[id, [field, value, ...]]`. */
export type StreamEntry = [string, string[]];

export function fieldOf(entry: StreamEntry, name: string): string | undefined {
  const fields = entry[1];
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/** Hides a password in a Redis URL, for messages and logs. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(unparsable URL)";
  }
}
