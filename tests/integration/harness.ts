/**
 * In-process harness: the real router, Auth.js session shape, Prisma on an
 * in-memory PGlite with the real migrations, and a fresh event layer per test.
 */
import { randomUUID } from "node:crypto";
import type { Session } from "next-auth";

import { createCaller } from "~/server/api/root";
import { createInnerTRPCContext } from "~/server/api/trpc";
import { recordSignIn } from "~/server/auth/sign-in-sessions";
import { db, getDatabase } from "~/server/db";
import { applyMigrations } from "~/server/db/migrations";
import { seedDemoData } from "~/server/db/seed";
import type { LiveEvent } from "~/server/events";
import { freshEventLayer, testRuntime } from "../helpers/runtime";
import { waitUntil } from "../helpers/wait";

export { freshEventLayer };

testRuntime();

let migrated: Promise<void> | undefined;
export function setupDatabase() {
  migrated ??= (async () => {
    await applyMigrations(getDatabase().factory);
    await seedDemoData(db);
  })();
  return migrated;
}

/** A signed-in session of the user, as Auth.js makes one: its sign-in is recorded, so it can be ended. */
export async function sessionFor(email: string): Promise<Session> {
  const user = await db.user.findUniqueOrThrow({ where: { email } });
  const sessionId = randomUUID();
  await recordSignIn(sessionId, user.id, 3_600);
  return {
    user: { id: user.id, email: user.email, name: user.name },
    sessionId,
    expires: new Date(Date.now() + 3_600_000).toISOString(),
    tokenExpires: new Date(Date.now() + 3_600_000).toISOString(),
  };
}

/** A fresh sign-in (new session id) for each demo user. */
export async function demoSessions() {
  return {
    alice: await sessionFor("alice@acme.test"),
    bob: await sessionFor("bob@acme.test"),
    carol: await sessionFor("carol@globex.test"),
    /** The platform operator (no organisation). */
    olivia: await sessionFor("olivia@platform.test"),
  };
}

export function callerFor(session: Session | null, signal?: AbortSignal, headers?: Record<string, string>) {
  return createCaller(createInnerTRPCContext({ session, headers: new Headers(headers) }), { signal });
}

export async function orgIdOf(slug: string) {
  return (await db.organization.findUniqueOrThrow({ where: { slug } })).id;
}

export interface Received {
  id: string;
  event: LiveEvent;
}

/** Reads a subscription in the background, like a client would. */
export async function subscribe(
  session: Session,
  input: { names?: LiveEvent["name"][]; lastEventId?: string | null; tabId?: string } = {},
) {
  const controller = new AbortController();
  const iterable = await callerFor(session, controller.signal).events.onEvent(input);
  const received: Received[] = [];
  let failure: { error: unknown } | null = null;
  const done = (async () => {
    try {
      for await (const value of iterable as AsyncIterable<unknown>) {
        const [id, event] = value as [string, LiveEvent];
        received.push({ id, event });
      }
    } catch (error) {
      failure = { error };
    }
  })();

  async function waitFor(predicate: (all: Received[]) => boolean, what: string, timeoutMs = 5_000) {
    await waitUntil(
      () => {
        if (failure) throw failure.error;
        return predicate(received);
      },
      `${what}; received ${JSON.stringify(received.map((r) => r.event.name))}`,
      { timeoutMs, intervalMs: 10 },
    );
  }

  return {
    received,
    /** Non-system events, in arrival order. */
    events: () => received.filter((r) => !r.event.name.startsWith("system.")),
    names: () => received.map((r) => r.event.name),
    waitFor,
    waitForName: (name: LiveEvent["name"], count = 1) =>
      waitFor((all) => all.filter((r) => r.event.name === name).length >= count, `${count}× ${name}`),
    /** The error that ended the stream, if one did. */
    failure: () => failure?.error,
    /** Resolves once the stream ended (normally or with an error). */
    ended: () => done,
    /** Resolves once the server said the subscription is live. */
    ready: () => waitFor((all) => all.some((r) => r.event.name === "system.ready"), "system.ready"),
    close: async () => {
      controller.abort();
      await done;
    },
  };
}
