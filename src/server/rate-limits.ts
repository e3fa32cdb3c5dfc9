/**
 * Fairness between users and tenants: how many events one user and one
 * organisation may emit per window, with rate-limiter-flexible (in this
 * process's memory; a Redis store fits the same API for many instances).
 */
import { RateLimiterMemory, RateLimiterRes } from "rate-limiter-flexible";

import { env } from "~/env";
import { processSingleton } from "~/server/process-singleton";

const WINDOW_S = 10;

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

const limiters = processSingleton("rate-limiters", () => ({
  user: new RateLimiterMemory({ keyPrefix: "emit-user", points: env.RATE_LIMIT_EMITS_PER_USER, duration: WINDOW_S }),
  organization: new RateLimiterMemory({
    keyPrefix: "emit-org",
    points: env.RATE_LIMIT_EMITS_PER_ORGANIZATION,
    duration: WINDOW_S,
  }),
}));

async function consume(limiter: RateLimiterMemory, key: string, what: string): Promise<void> {
  try {
    await limiter.consume(key);
  } catch (result) {
    if (!(result instanceof RateLimiterRes)) throw result;
    const retryAfterMs = Math.max(1, result.msBeforeNext);
    throw new RateLimitedError(
      `${what} has sent too many events; retry in ${Math.ceil(retryAfterMs / 1000)} s`,
      retryAfterMs,
    );
  }
}

/** Counts one emit against the user and each of their organisations; throws RateLimitedError past a limit. */
export async function limitEmit(userId: string, organizationIds: readonly string[]): Promise<void> {
  await consume(limiters.user, userId, "you");
  for (const organizationId of organizationIds)
    await consume(limiters.organization, organizationId, "your organisation");
}
