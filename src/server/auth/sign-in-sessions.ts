/**
 * Sign-ins the server can end. Each sign-in is a row (`SignInSession`, keyed
 * by the JWT's `sid`); Auth.js's jwt callback checks it on every read of the
 * cookie, so a revoked sign-in's cookie yields no session anywhere (pages,
 * tRPC, the SSE fast path, `/api/auth/session`, which also stops re-issuing
 * it). Ending a sign-in also ends its open streams at once.
 */
import { env } from "~/env";
import { batchedLookup } from "~/server/db/batched-lookup";
import { db } from "~/server/db";
import { publishControl } from "~/server/platform/cluster-control";
import { runtime } from "~/server/runtime";
import { forgetSessions } from "./session-cache";

export interface SignInCheck {
  active: Promise<boolean>;
  until: number;
}

/** The runtime keeps the checks: every bundle of the process shares them. */
const checksOf = () => runtime().signInChecks;
const MAX_CHECKS = 10_000;

export async function recordSignIn(sessionId: string, userId: string, maxAgeSeconds: number): Promise<void> {
  await db.signInSession.create({
    data: { id: sessionId, userId, expiresAt: new Date(Date.now() + maxAgeSeconds * 1_000) },
  });
}

/** Checks that arrive together (a reconnect storm after a deploy) share one query. */
const activeSignIn = batchedLookup<string, true>(async (ids) => {
  const rows = await db.signInSession.findMany({
    where: { id: { in: ids }, revokedAt: null },
    select: { id: true },
  });
  return new Map(rows.map((row) => [row.id, true]));
});

function lookUp(sessionId: string): Promise<boolean> {
  return activeSignIn(sessionId).then((active) => active === true);
}

/** True while the sign-in exists and was not ended (briefly cached; ending one here takes effect at once). */
export function isSignInActive(sessionId: string): Promise<boolean> {
  const checks = checksOf();
  const now = Date.now();
  const hit = checks.get(sessionId);
  if (hit && hit.until > now) return hit.active;
  const active = lookUp(sessionId);
  checks.delete(sessionId);
  checks.set(sessionId, { active, until: now + env.AUTH_SESSION_CACHE_MS });
  if (checks.size > MAX_CHECKS) checks.delete(checks.keys().next().value!);
  active.catch(() => checks.delete(sessionId));
  return active;
}

/** Reads the sign-in from the database now (re-authorisation); one found ended stays ended for the cached checks. */
export async function isSignInActiveNow(sessionId: string): Promise<boolean> {
  const checks = checksOf();
  const active = await lookUp(sessionId);
  if (!active) {
    checks.delete(sessionId);
    checks.set(sessionId, { active: Promise.resolve(false), until: Number.POSITIVE_INFINITY });
    if (checks.size > MAX_CHECKS) checks.delete(checks.keys().next().value!);
  }
  return active;
}

/** Applies ended sign-ins in this process: cached checks fail, cached tokens go, open streams end. */
export function endedHere(sessionIds: string[], reason: string): number {
  const checks = checksOf();
  const forever = { active: Promise.resolve(false), until: Number.POSITIVE_INFINITY };
  for (const id of sessionIds) checks.set(id, forever);
  forgetSessions(new Set(sessionIds));
  let streams = 0;
  for (const id of sessionIds) streams += runtime().events.registry.revoke({ signInSessionId: id }, reason);
  return streams;
}

/** Ends one sign-in (sign-out). Returns how many open streams it ended. */
export async function endSignIn(sessionId: string): Promise<number> {
  await db.signInSession.updateMany({ where: { id: sessionId, revokedAt: null }, data: { revokedAt: new Date() } });
  return ended([sessionId], "the session was signed out; sign in again");
}

/** Here, and on every other instance (their streams of these sign-ins end too). */
function ended(sessionIds: string[], reason: string): number {
  void publishControl({ type: "sign-ins.ended", sessionIds, reason });
  return endedHere(sessionIds, reason);
}

/** Ends every sign-in of a user ("sign out everywhere", or an administrator's revocation). */
export async function endAllSignIns(userId: string): Promise<{ sessions: number; streams: number }> {
  const rows = await db.signInSession.findMany({ where: { userId, revokedAt: null }, select: { id: true } });
  await db.signInSession.updateMany({ where: { userId, revokedAt: null }, data: { revokedAt: new Date() } });
  const ids = rows.map((r) => r.id);
  return { sessions: ids.length, streams: ended(ids, "the session was ended; sign in again") };
}
