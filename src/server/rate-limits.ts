/**
 * Fairness between users and tenants, and brakes on abuse, with
 * rate-limiter-flexible (in this process's memory, or on Redis with
 * REDIS_URL so that every instance counts against the same limits):
 * - events one user and one organisation may emit per 10 s;
 * - sign-in attempts per client address per minute (each costs a password hash);
 * - failed sign-ins per account per 15 minutes (password guessing spread over addresses);
 * - streams one client address may open per minute (reconnect floods).
 * A limit of 0 turns that limit off.
 */
import { createHash } from "node:crypto";
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";

import { env } from "~/env";
import { getEventLayerRedis } from "~/server/event-layer";
import { processSingleton } from "~/server/process-singleton";

/** Refused by a rate limit; `retryAfterMs` says when the next attempt can succeed. */
export class RateLimitedError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs: number,
  ) {
    super(message);
    this.name = "RateLimitedError";
  }
}

/**
 * With REDIS_URL the limits are shared by every instance; while Redis is
 * unreachable each instance falls back to counting in its own memory.
 */
function limiter(keyPrefix: string, points: number, duration: number): RateLimiterAbstract | null {
  if (points <= 0) return null;
  const memory = new RateLimiterMemory({ keyPrefix, points, duration });
  const redis = getEventLayerRedis();
  if (!redis) return memory;
  return new RateLimiterRedis({
    storeClient: redis,
    keyPrefix: `${env.REDIS_KEY_PREFIX}limit:${keyPrefix}`,
    points,
    duration,
    insuranceLimiter: memory,
  });
}

// Made on first use, not at import: the layer (and its Redis connection) exists by then.
const limiters = () =>
  processSingleton("rate-limiters", () => ({
    emitsPerUser: limiter("emit-user", env.RATE_LIMIT_EMITS_PER_USER, 10),
    emitsPerOrganization: limiter("emit-org", env.RATE_LIMIT_EMITS_PER_ORGANIZATION, 10),
    signInsPerIp: limiter("signin-ip", env.RATE_LIMIT_SIGNINS_PER_IP, 60),
    signInFailuresPerAccount: limiter("signin-fail-account", env.RATE_LIMIT_SIGNIN_FAILURES_PER_ACCOUNT, 15 * 60),
    streamOpensPerIp: limiter("stream-ip", env.RATE_LIMIT_STREAM_OPENS_PER_IP, 60),
  }));

function refused(result: RateLimiterRes, message: string): RateLimitedError {
  const retryAfterMs = Math.max(1, result.msBeforeNext);
  return new RateLimitedError(`${message}; retry in ${Math.ceil(retryAfterMs / 1000)} s`, retryAfterMs);
}

async function consume(limiter: RateLimiterAbstract | null, key: string, message: string): Promise<void> {
  if (!limiter) return;
  try {
    await limiter.consume(key);
  } catch (result) {
    if (!(result instanceof RateLimiterRes)) throw result;
    throw refused(result, message);
  }
}

/** Counts one emit against the user and each of their organisations; throws RateLimitedError past a limit. */
export async function limitEmit(userId: string, organizationIds: readonly string[]): Promise<void> {
  await consume(limiters().emitsPerUser, userId, "you have sent too many events");
  for (const organizationId of organizationIds)
    await consume(limiters().emitsPerOrganization, organizationId, "your organisation has sent too many events");
}

/** Counts one stream opened from `ip` (null: an in-process caller, not limited). */
export async function limitStreamOpen(ip: string | null): Promise<void> {
  if (ip !== null) await consume(limiters().streamOpensPerIp, ip, "too many streams opened from your address");
}

/** Accounts are keyed by a hash of the normalised address: limiter keys may end up in Redis or a dump. */
const accountKey = (email: string) => createHash("sha256").update(email.trim().toLowerCase()).digest("base64url");

/**
 * Before a password is checked: counts the attempt against the address and
 * refuses an account that failed too often lately (whatever the address).
 */
export async function limitSignIn(ip: string | null, email: string): Promise<void> {
  if (ip !== null) await consume(limiters().signInsPerIp, ip, "too many sign-in attempts from your address");
  const failures = limiters().signInFailuresPerAccount;
  if (!failures) return;
  const result = await failures.get(accountKey(email));
  if (result && result.remainingPoints <= 0) throw refused(result, "too many failed sign-ins for this account");
}

/** After the password check: a failure counts against the account, a success clears its count. */
export async function recordSignInOutcome(email: string, ok: boolean): Promise<void> {
  const failures = limiters().signInFailuresPerAccount;
  if (!failures) return;
  const key = accountKey(email);
  if (ok) {
    await failures.delete(key);
    return;
  }
  await failures.penalty(key, 1);
}
