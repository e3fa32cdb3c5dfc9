import { describe, expect, it } from "vitest";

import { sameOriginPath } from "~/server/auth/callback-url";

describe("sign-in callback URLs", () => {
  it("keep paths on this site", () => {
    expect(sameOriginPath("/")).toBe("/");
    expect(sameOriginPath("/orders?tab=open#top")).toBe("/orders?tab=open#top");
    expect(sameOriginPath(undefined)).toBe("/");
  });

  it("never lead to another origin, however spelled", () => {
    const bad = [
      "//evil.example",
      "/\\evil.example",
      "\\\\evil.example",
      "https://evil.example/x",
      "javascript:alert(1)",
      "http:evil.example",
      " //evil.example",
      // Paths that normalise into a protocol-relative URL.
      "/.//evil.example",
      "/..//evil.example",
      "/a/..//evil.example",
      "/%2e//evil.example",
      "/./\\evil.example",
      "/.%2F%2Fevil.example",
      "/\t/evil.example",
      "/\n//evil.example",
      "///evil.example",
      "/.//evil.example/path?x=1",
    ];
    for (const url of bad) {
      const path = sameOriginPath(url);
      // Whatever comes back stays on this site, over http or https.
      for (const site of ["http://site.example", "https://site.example"]) {
        expect(new URL(path, site).origin, url).toBe(site);
      }
      expect(path, url).toMatch(/^\/(?![/\\])/);
    }
  });
});
