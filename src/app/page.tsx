import { redirect } from "next/navigation";

import { auth, signOut } from "~/server/auth";
import { LiveDemo } from "./_components/live-demo";

export const dynamic = "force-dynamic";

export default async function HomePage() {
  const session = await auth();
  if (!session?.user) redirect("/signin?callbackUrl=/");

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
            {session.user.email} · {session.user.role.toLowerCase()}
          </span>
          <button type="submit">Sign out</button>
        </form>
      </header>
      <LiveDemo me={{ id: session.user.id, role: session.user.role, name: session.user.name ?? null }} />
    </main>
  );
}
