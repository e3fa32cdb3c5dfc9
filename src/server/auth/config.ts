import { randomUUID } from "node:crypto";
import { PrismaAdapter } from "@auth/prisma-adapter";
import { CredentialsSignin, type DefaultSession, type NextAuthConfig } from "next-auth";
import Credentials from "next-auth/providers/credentials";
import Discord from "next-auth/providers/discord";
import GitHub from "next-auth/providers/github";
import { z } from "zod";

import { env } from "~/env";
import { db } from "~/server/db";
import { clientIpOf } from "~/server/transport/client-ip";
import { expectedFailures } from "~/server/platform/log-throttle";
import { limitSignIn, RateLimitedError, signInSucceeded } from "~/server/platform/rate-limits";
import { logger } from "~/server/platform/logger";
import { developmentSecret } from "./development-secret";
import { endSignIn, isSignInActive, recordSignIn } from "./sign-in-sessions";
import { verifyPassword } from "./password";

declare module "next-auth" {
  interface Session extends DefaultSession {
    /** Stable id of this sign-in; a delivery target (`{ kind: "session" }`). */
    sessionId: string;
    /**
     * When the presented cookie stops being valid (ISO-8601). Auth.js's own
     * `expires` is recomputed as now + maxAge on every read, so an open stream
     * must not use it.
     */
    tokenExpires: string | null;
    /** Who, not what they may do: roles and memberships are read from the database per request. */
    user: { id: string } & DefaultSession["user"];
  }
}

/** Auth.js errors that a client causes by sending something wrong; logged without stacks, throttled. */
const EXPECTED_AUTH_ERRORS = new Set([
  "JWTSessionError",
  "SessionTokenError",
  "CredentialsSignin",
  "MissingCSRF",
  "InvalidCheck",
]);

/** Shown on the sign-in page as `?code=rate_limited`; says nothing about the account. */
export class SignInRateLimited extends CredentialsSignin {
  code = "rate_limited";
}

/** The demo login is on in development and test, off in production unless AUTH_DEMO_LOGIN=true. */
export const demoLoginEnabled = env.AUTH_DEMO_LOGIN ?? env.NODE_ENV !== "production";

const credentialsInput = z.object({
  email: z.string().trim().toLowerCase().email(),
  password: z.string().min(1).max(200),
});

const providers: NextAuthConfig["providers"] = [];
if (demoLoginEnabled) {
  providers.push(
    Credentials({
      id: "demo",
      name: "Demo login",
      credentials: { email: { label: "Email", type: "email" }, password: { label: "Password", type: "password" } },
      async authorize(raw, request) {
        const parsed = credentialsInput.safeParse(raw);
        if (!parsed.success) return null;
        const { email, password } = parsed.data;
        const ip = clientIpOf(request.headers);
        try {
          await limitSignIn(ip, email);
        } catch (error) {
          if (!(error instanceof RateLimitedError)) throw error;
          const line = expectedFailures.take("auth:rate_limited");
          if (line) logger.warn({ event: "auth.rate_limited", provider: "demo", ...line }, "sign-in rate limited");
          throw new SignInRateLimited();
        }
        const user = await db.user.findUnique({ where: { email } });
        const ok = !!user?.passwordHash && (await verifyPassword(password, user.passwordHash));
        if (ok) await signInSucceeded(ip, email);
        if (!ok) {
          // Never the address: logs are not a place for personal data.
          logger.info({ event: "auth.failed", provider: "demo" }, "demo login rejected");
          return null;
        }
        return { id: user.id, email: user.email, name: user.name, image: user.image };
      },
    }),
  );
}
if (env.AUTH_GITHUB_ID && env.AUTH_GITHUB_SECRET) {
  providers.push(GitHub({ clientId: env.AUTH_GITHUB_ID, clientSecret: env.AUTH_GITHUB_SECRET }));
}
if (env.AUTH_DISCORD_ID && env.AUTH_DISCORD_SECRET) {
  providers.push(Discord({ clientId: env.AUTH_DISCORD_ID, clientSecret: env.AUTH_DISCORD_SECRET }));
}

export const authConfig = {
  adapter: PrismaAdapter(db),
  // JWT sessions: the subscription authenticates from the cookie alone, with
  // no database read per reconnect.
  session: { strategy: "jwt", maxAge: env.AUTH_SESSION_MAX_AGE_S },
  // Development needs no set-up: without AUTH_SECRET a random secret is made once
  // and kept under .data/ (env.js requires a real one in production).
  secret: env.AUTH_SECRET ?? (env.NODE_ENV === "production" ? undefined : developmentSecret(env.AUTH_DEV_SECRET_FILE)),
  trustHost: true,
  providers,
  pages: { signIn: "/signin" },
  callbacks: {
    async jwt({ token, user }) {
      if (user?.id) {
        // A new sign-in: a fresh session id, so two sign-ins of one user are two
        // sessions, and a row the server can end.
        const sid = randomUUID();
        await recordSignIn(sid, user.id, env.AUTH_SESSION_MAX_AGE_S);
        return { ...token, sid, sub: user.id };
      }
      // Every later read of the cookie: null (no session, cookie cleared) once the sign-in was ended.
      return typeof token.sid === "string" && (await isSignInActive(token.sid)) ? token : null;
    },
    session({ session, token }) {
      return {
        ...session,
        sessionId: token.sid as string,
        tokenExpires: typeof token.exp === "number" ? new Date(token.exp * 1000).toISOString() : null,
        user: {
          ...session.user,
          id: token.sub!,
        },
      };
    },
  },
  events: {
    // Sign-out ends the sign-in on the server: its cookie stops working
    // everywhere and its open streams end, not only this browser's copy.
    async signOut(message) {
      const sid = "token" in message ? message.token?.sid : undefined;
      if (typeof sid === "string") await endSignIn(sid);
    },
    // OAuth sign-ups get a personal organisation, so every user has a tenant.
    async createUser({ user }) {
      if (!user.id) return;
      const organization = await db.organization.create({
        data: { name: `${user.name ?? user.email ?? "My"} workspace`, slug: `user-${user.id}` },
      });
      await db.membership.create({ data: { userId: user.id, organizationId: organization.id, role: "OWNER" } });
    },
  },
  logger: {
    error: (error) => {
      const type = (error as { type?: string }).type ?? error.name;
      // A garbage or expired cookie is the client's problem, and anyone can send one.
      if (EXPECTED_AUTH_ERRORS.has(type)) {
        const line = expectedFailures.take(`auth:${type}`);
        if (line) logger.warn({ event: "auth.rejected", type, ...line }, "auth rejected a request");
        return;
      }
      logger.error({ event: "auth.error", type, err: error }, "auth error");
    },
    warn: (code) => logger.warn({ event: "auth.warn", code }, "auth warning"),
    debug: () => {},
  },
} satisfies NextAuthConfig;
