/**
 * Fairness between users and tenants, and brakes on abuse, with
 * rate-limiter-flexible (in this process's memory, or on Redis with
 * REDIS_URL so that every instance counts against the same limits):
 * - events one user and one organisation may emit per 10 s;
 * - sign-in attempts per client address per minute (each costs a password hash);
 * - sign-ins per account and address per 15 minutes that did not succeed
 *   (password guessing from one address: that address is refused for that account);
 * - sign-ins per account per 15 minutes that did not succeed, from any address
 *   (guessing spread over addresses): past it, an address with no failures for
 *   the account may still try, one attempt per account every few seconds, so
 *   an attacker can slow the owner down but not lock them out;
 * - streams one client address may open per minute (reconnect floods).
 * A limit of 0 turns that limit off.
 */
import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";

import { env } from "~/env";
import { runtime } from "~/server/runtime";

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
function limiter(redis: Redis | null, keyPrefix: string, points: number, duration: number): RateLimiterAbstract | null {
  if (points <= 0) return null;
  const memory = new RateLimiterMemory({ keyPrefix, points, duration });
  if (!redis) return memory;
  return new RateLimiterRedis({
    storeClient: redis,
    keyPrefix: `${env.REDIS_KEY_PREFIX}limit:${keyPrefix}`,
    points,
    duration,
    insuranceLimiter: memory,
  });
}

/** The process's limiters (the runtime makes them once, on the layer's Redis connection if there is one). */
export function createRateLimiters(redis: Redis | null) {
  return {
    emitsPerUser: limiter(redis, "emit-user", env.RATE_LIMIT_EMITS_PER_USER, 10),
    emitsPerOrganization: limiter(redis, "emit-org", env.RATE_LIMIT_EMITS_PER_ORGANIZATION, 10),
    signInsPerIp: limiter(redis, "signin-ip", env.RATE_LIMIT_SIGNINS_PER_IP, 60),
    signInFailuresPerPair: limiter(redis, "signin-fail-pair", env.RATE_LIMIT_SIGNIN_FAILURES_PER_ACCOUNT, 15 * 60),
    signInFailuresPerAccount: limiter(
      redis,
      "signin-fail-account",
      env.RATE_LIMIT_SIGNIN_FAILURES_PER_ACCOUNT_ALL_ADDRESSES,
      15 * 60,
    ),
    cleanAddressSignIns: limiter(redis, "signin-clean", 1, SIGN_IN_UNDER_ATTACK_DELAY_S),
    streamOpensPerIp: limiter(redis, "stream-ip", env.RATE_LIMIT_STREAM_OPENS_PER_IP, 60),
  };
}

export type RateLimiters = ReturnType<typeof createRateLimiters>;

const limiters = () => runtime().limiters;

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

/** Requests refused by a rate limit, by what was refused: counted here, read by Prometheus and the console. */
export interface RateLimitRefusals {
  emit: number;
  stream_open: number;
  sign_in: number;
}

/** Runs a limit check; a refusal is counted (for the process, and for `organizationIds`) and rethrown. */
async function counting(
  kind: keyof RateLimitRefusals,
  organizationIds: readonly string[],
  check: () => Promise<void>,
): Promise<void> {
  try {
    await check();
  } catch (error) {
    if (error instanceof RateLimitedError) {
      const { rateLimitRefusals, events } = runtime();
      rateLimitRefusals[kind]++;
      for (const id of organizationIds) events.registry.tenants.of(id).rateLimited++;
    }
    throw error;
  }
}

/** Counts one emit against the user and each of their organisations; throws RateLimitedError past a limit. */
export async function limitEmit(userId: string, organizationIds: readonly string[]): Promise<void> {
  await counting("emit", organizationIds, async () => {
    await consume(limiters().emitsPerUser, userId, "you have sent too many events");
    for (const organizationId of organizationIds)
      await consume(limiters().emitsPerOrganization, organizationId, "your organisation has sent too many events");
  });
}

/** Counts one stream opened from `ip` (null: an in-process caller, not limited). */
export async function limitStreamOpen(ip: string | null): Promise<void> {
  if (ip === null) return;
  await counting("stream_open", [], () =>
    consume(limiters().streamOpensPerIp, ip, "too many streams opened from your address"),
  );
}

/** Accounts are keyed by a hash of the normalised address: limiter keys may end up in Redis or a dump. */
const accountKey = (email: string) => createHash("sha256").update(email.trim().toLowerCase()).digest("base64url");

/**
 * While an account's failures from all addresses are past their limit, an
 * address with no failures for it may try once per account every this many
 * seconds: the longest an attacker can keep the owner waiting.
 */
export const SIGN_IN_UNDER_ATTACK_DELAY_S = 5;

/**
 * Before a password is checked: counts the attempt against the address, and
 * against the account from this address and from all addresses, atomically
 * (concurrent attempts cannot all pass a count read before any was added).
 * The attempt counts as a failure until `signInSucceeded` takes it back.
 * Throws RateLimitedError when the attempt may not be checked.
 */
export async function limitSignIn(ip: string | null, email: string): Promise<void> {
  await counting("sign_in", [], () => checkSignIn(ip, email));
}

async function checkSignIn(ip: string | null, email: string): Promise<void> {
  const { signInsPerIp, signInFailuresPerPair, signInFailuresPerAccount, cleanAddressSignIns } = limiters();
  if (ip !== null) await consume(signInsPerIp, ip, "too many sign-in attempts from your address");
  const account = accountKey(email);
  const pair = `${account}:${ip ?? "in-process"}`;
  await consume(signInFailuresPerPair, pair, "too many failed sign-ins for this account from your address");
  try {
    await consume(signInFailuresPerAccount, account, "too many failed sign-ins for this account");
  } catch (error) {
    if (!(error instanceof RateLimitedError)) throw error;
    // Under attack from elsewhere: an address that has not failed for this account may still try, slowly.
    const failuresHere = (await signInFailuresPerPair?.get(pair))?.consumedPoints ?? 1;
    if (failuresHere > 1) throw error;
    await consume(cleanAddressSignIns, account, "this account is being guessed at; try again in a few seconds");
  }
}

/** The password was right: the attempt is not a failure, and this address starts clean. */
export async function signInSucceeded(ip: string | null, email: string): Promise<void> {
  const { signInFailuresPerPair, signInFailuresPerAccount } = limiters();
  const account = accountKey(email);
  await signInFailuresPerPair?.delete(`${account}:${ip ?? "in-process"}`);
  await signInFailuresPerAccount?.reward(account, 1);
}
