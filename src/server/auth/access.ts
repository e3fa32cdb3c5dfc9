/**
 * Who may administer what. An organisation's OWNER or ADMIN administers that
 * organisation only; the platform operator (the user's global role) holds the
 * powers that span tenants. Both are read from the database through the
 * user's entitlements, never from the session cookie.
 */
import type { Entitlements } from "~/server/events";

const ADMIN_ROLES = new Set(["OWNER", "ADMIN"]);

/** What a caller administers: every organisation (operator), or the ones listed. */
export interface AdminScope {
  operator: boolean;
  /** The organisations the caller administers through a membership. */
  organizationIds: readonly string[];
}

export function adminScopeOf(entitlements: Entitlements): AdminScope {
  return {
    operator: entitlements.metadata.role === "OPERATOR",
    organizationIds: entitlements.organizationIds.filter((id) =>
      ADMIN_ROLES.has(entitlements.metadata[`org:${id}`] ?? ""),
    ),
  };
}

/** Whether the caller administers anything at all. */
export function isAdministrator(scope: AdminScope): boolean {
  return scope.operator || scope.organizationIds.length > 0;
}

/** Whether the caller may act on something that belongs to any of these organisations. */
export function administersAny(scope: AdminScope, organizationIds: Iterable<string>): boolean {
  if (scope.operator) return true;
  for (const id of organizationIds) if (scope.organizationIds.includes(id)) return true;
  return false;
}

/** The organisations of `organizationIds` the caller may see as an administrator. */
export function visibleOrganizations(scope: AdminScope, organizationIds: readonly string[]): string[] {
  return scope.operator ? [...organizationIds] : organizationIds.filter((id) => scope.organizationIds.includes(id));
}
