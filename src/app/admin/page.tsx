import type { Metadata } from "next";
import { notFound, redirect } from "next/navigation";

import { adminScopeOf, isAdministrator } from "~/server/auth/access";
import { auth } from "~/server/auth";
import { runtime } from "~/server/runtime";
import { OperatorConsole } from "./_components/operator-console";
import "./admin.css";

export const dynamic = "force-dynamic";
export const metadata: Metadata = { title: "Operator console · T3 live events" };

/**
 * The operator console: an organisation's administrators see their
 * organisation, the platform operator sees every one; anyone else gets a 404
 * (the page does not say it exists). Roles come from the database (briefly
 * cached), never from the cookie; every figure is fetched again by the
 * procedures, which check the same scope.
 */
export default async function AdminPage() {
  const session = await auth();
  if (!session?.user) redirect("/signin?callbackUrl=/admin");
  const entitlements = await runtime().events.entitlements.get(session.user.id);
  const scope = entitlements ? adminScopeOf(entitlements) : null;
  if (!scope || !isAdministrator(scope)) notFound();
  return <OperatorConsole viewer={{ name: session.user.name ?? null, operator: scope.operator }} />;
}
