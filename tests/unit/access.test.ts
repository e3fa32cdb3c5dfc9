import { describe, expect, it } from "vitest";

import { adminScopeOf, administersAny, isAdministrator, visibleOrganizations } from "~/server/auth/access";
import type { Entitlements } from "~/server/events";

const of = (metadata: Record<string, string>, organizationIds: string[]): Entitlements => ({
  userId: "u",
  userName: null,
  organizationIds,
  metadata,
});

describe("administration scope", () => {
  it("an organisation's owner or admin administers that organisation only", () => {
    const scope = adminScopeOf(
      of({ role: "MEMBER", "org:a": "OWNER", "org:b": "MEMBER", "org:c": "ADMIN" }, ["a", "b", "c"]),
    );
    expect(scope).toEqual({ operator: false, organizationIds: ["a", "c"] });
    expect(isAdministrator(scope)).toBe(true);
    expect(administersAny(scope, ["b"])).toBe(false);
    expect(administersAny(scope, ["b", "c"])).toBe(true);
    expect(visibleOrganizations(scope, ["b", "c", "z"])).toEqual(["c"]);
  });

  it("a member administers nothing; the platform operator administers every organisation", () => {
    expect(isAdministrator(adminScopeOf(of({ role: "MEMBER", "org:a": "MEMBER" }, ["a"])))).toBe(false);
    const operator = adminScopeOf(of({ role: "OPERATOR" }, []));
    expect(isAdministrator(operator)).toBe(true);
    expect(administersAny(operator, ["anything"])).toBe(true);
    expect(visibleOrganizations(operator, ["x", "y"])).toEqual(["x", "y"]);
  });

  it("a global role from before memberships carried roles grants nothing", () => {
    expect(isAdministrator(adminScopeOf(of({ role: "ADMIN", "org:a": "MEMBER" }, ["a"])))).toBe(false);
  });
});
