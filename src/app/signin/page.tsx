import { AuthError, CredentialsSignin } from "next-auth";
import { redirect } from "next/navigation";

import { auth, signIn } from "~/server/auth";
import { sameOriginPath } from "~/server/auth/callback-url";
import { demoLoginEnabled } from "~/server/auth/config";
import { env } from "~/env";

export const dynamic = "force-dynamic";

export default async function SignInPage(props: {
  searchParams: Promise<{ callbackUrl?: string; error?: string; code?: string }>;
}) {
  const { callbackUrl, error, code } = await props.searchParams;
  const redirectTo = sameOriginPath(callbackUrl);
  if (await auth()) redirect(redirectTo);

  async function demoSignIn(formData: FormData) {
    "use server";
    try {
      await signIn("demo", {
        email: formValue(formData, "email"),
        password: formValue(formData, "password"),
        redirectTo,
      });
    } catch (e) {
      // signIn redirects by throwing; only Auth.js errors mean a failed login.
      if (e instanceof AuthError) {
        const detail = e instanceof CredentialsSignin ? `&code=${encodeURIComponent(e.code)}` : "";
        redirect(`/signin?error=${e.type}${detail}&callbackUrl=${encodeURIComponent(redirectTo)}`);
      }
      throw e;
    }
  }

  async function oauthSignIn(formData: FormData) {
    "use server";
    await signIn(formValue(formData, "provider"), { redirectTo });
  }

  const oauth = [
    env.AUTH_GITHUB_ID && env.AUTH_GITHUB_SECRET ? { id: "github", name: "GitHub" } : null,
    env.AUTH_DISCORD_ID && env.AUTH_DISCORD_SECRET ? { id: "discord", name: "Discord" } : null,
  ].filter((p): p is { id: string; name: string } => p !== null);

  return (
    <main style={{ maxWidth: 420 }}>
      <h1>Sign in</h1>
      {error && (
        <p className="error" role="alert" data-testid="signin-error">
          {error !== "CredentialsSignin"
            ? `Sign-in failed (${error}).`
            : code === "rate_limited"
              ? "Too many sign-in attempts. Wait a few minutes and try again."
              : "Wrong email or password."}
        </p>
      )}
      {demoLoginEnabled ? (
        <form action={demoSignIn} style={{ display: "grid", gap: 8, marginTop: 16 }}>
          <label>
            Email <input name="email" type="email" defaultValue="alice@acme.test" required style={{ width: "100%" }} />
          </label>
          <label>
            Password <input name="password" type="password" defaultValue="demo" required style={{ width: "100%" }} />
          </label>
          <button type="submit" data-testid="signin-submit">
            Sign in with the demo login
          </button>
          <p className="muted">
            Demo users (password <code>demo</code>): alice@acme.test (admin, Acme), bob@acme.test (Acme),
            carol@globex.test (Globex).
          </p>
        </form>
      ) : (
        <p className="muted">The demo login is disabled (set AUTH_DEMO_LOGIN=true to enable it).</p>
      )}
      {oauth.map((p) => (
        <form key={p.id} action={oauthSignIn} style={{ marginTop: 8 }}>
          <input type="hidden" name="provider" value={p.id} />
          <button type="submit">Sign in with {p.name}</button>
        </form>
      ))}
    </main>
  );
}

/** A text field of a submitted form ("" when absent or a file). */
function formValue(formData: FormData, name: string): string {
  const value = formData.get(name);
  return typeof value === "string" ? value : "";
}
