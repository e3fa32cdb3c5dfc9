/**
 * Where to send a user after sign-in: a path on this site, never another
 * origin. Browsers read `/\evil.example` and `//evil.example` as another
 * host, so the check parses the URL as a browser would instead of looking at
 * its first characters.
 */
const BASE = new URL("http://this-site.invalid");

export function sameOriginPath(url: string | null | undefined): string {
  if (!url) return "/";
  try {
    const parsed = new URL(url, BASE);
    if (parsed.origin !== BASE.origin) return "/";
    return `${parsed.pathname}${parsed.search}${parsed.hash}`;
  } catch {
    return "/";
  }
}
