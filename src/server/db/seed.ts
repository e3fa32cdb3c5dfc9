import type { PrismaClient } from "~/generated/prisma/client";
import { hashPassword } from "~/server/auth/password";

export const DEMO_PASSWORD = "demo";

export const demoOrganizations = [
  { slug: "acme", name: "Acme" },
  { slug: "globex", name: "Globex" },
] as const;

/**
 * Two tenants with an administrator each (an organisation's OWNER administers
 * it), a member, and a platform operator who belongs to no organisation.
 */
export const demoUsers = [
  { email: "alice@acme.test", name: "Alice", role: "MEMBER", org: "acme", orgRole: "OWNER" },
  { email: "bob@acme.test", name: "Bob", role: "MEMBER", org: "acme", orgRole: "MEMBER" },
  { email: "carol@globex.test", name: "Carol", role: "MEMBER", org: "globex", orgRole: "OWNER" },
  { email: "olivia@platform.test", name: "Olivia", role: "OPERATOR", org: null, orgRole: null },
] as const;

/** Idempotent: safe to run on every `npm run dev`. */
export async function seedDemoData(prisma: PrismaClient) {
  const orgIds = new Map<string, string>();
  for (const org of demoOrganizations) {
    const row = await prisma.organization.upsert({
      where: { slug: org.slug },
      update: {},
      create: org,
    });
    orgIds.set(org.slug, row.id);
  }
  for (const user of demoUsers) {
    const existing = await prisma.user.findUnique({ where: { email: user.email } });
    const row =
      existing ??
      (await prisma.user.create({
        data: {
          email: user.email,
          name: user.name,
          role: user.role,
          passwordHash: await hashPassword(DEMO_PASSWORD),
        },
      }));
    if (!user.org) continue;
    const organizationId = orgIds.get(user.org)!;
    await prisma.membership.upsert({
      where: { userId_organizationId: { userId: row.id, organizationId } },
      update: {},
      create: { userId: row.id, organizationId, role: user.orgRole ?? "MEMBER" },
    });
  }
}
