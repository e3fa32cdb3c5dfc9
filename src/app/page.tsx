import { redirect } from "next/navigation";

import { adminScopeOf } from "~/server/auth/access";
import { auth, signOut } from "~/server/auth";
import { runtime } from "~/server/runtime";
import { isEventName } from "~/server/domain/catalog";
import { LiveDemo } from "./_components/live-demo";

export const dynamic = "force-dynamic";

export default async function HomePage(props: { searchParams: Promise<{ names?: string }> }) {
  const session = await auth();
  // `?names=order.created,order.status.changed` shows only those events (system events always arrive).
  const names = (await props.searchParams).names?.split(",").filter(isEventName);
  if (!session?.user) redirect("/signin?callbackUrl=/");
  // Roles from the database (briefly cached), not from the cookie.
  const entitlements = await runtime().events.entitlements.get(session.user.id);
  if (!entitlements) redirect("/signin?callbackUrl=/");
  const scope = adminScopeOf(entitlements);
  const role = scope.operator ? "OPERATOR" : scope.organizationIds.length > 0 ? "ADMIN" : "MEMBER";
  const roleLabel = { OPERATOR: "platform operator", ADMIN: "organisation admin", MEMBER: "member" }[role];

  async function doSignOut() {
    "use server";
    await signOut({ redirectTo: "/signin" });
  }

  return (
    <main>
      <header>
        <h1>Live events</h1>
        <form action={doSignOut} className="row">
          <span className="muted" data-testid="signed-in-as">
            {session.user.email} · {roleLabel}
          </span>
          <button type="submit">Sign out</button>
        </form>
      </header>
      <LiveDemo
        me={{ id: session.user.id, role, name: session.user.name ?? null }}
        names={names?.length ? names : undefined}
      />
    </main>
  );
}
