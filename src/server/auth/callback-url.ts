/**
 * Where to send a user after sign-in: a path on this site, never another
 * origin. Browsers read `/\evil.example` and `//evil.example` as another
 * host, and a path can normalise into one (`/.//evil.example` is the path
 * `//evil.example`, which a browser reads as a protocol-relative URL). So the
 * URL is parsed as a browser would, reduced to its normalised path, and that
 * path is kept only if it parses back to this site as the same path.
 */
const BASE = new URL("http://this-site.invalid");

export function sameOriginPath(url: string | null | undefined): string {
  if (!url) return "/";
  try {
    const parsed = new URL(url, BASE);
    if (parsed.origin !== BASE.origin) return "/";
    const path = `${parsed.pathname}${parsed.search}${parsed.hash}`;
    // `//x` or `/\x` is another host to a browser, whatever it meant here.
    if (!path.startsWith("/") || path.startsWith("//") || path.startsWith("/\\")) return "/";
    const again = new URL(path, BASE);
    return again.origin === BASE.origin && again.pathname === parsed.pathname ? path : "/";
  } catch {
    return "/";
  }
}
