/**
 * Cross-site requests that change state are refused. A browser attaches the
 * session cookie to a form another site posts here; SameSite=Lax keeps it off
 * cross-site POSTs in today's browsers, but not off same-site ones (a sibling
 * subdomain) nor in every browser. So a state-changing request must say it
 * comes from this origin, the way browsers say it:
 * - `Sec-Fetch-Site`, when present, must be `same-origin` (or `none`: typed
 *   by the user);
 * - otherwise `Origin`, when present, must name this host;
 * - and its body must be JSON, which no form can send without a preflight
 *   (forms send `application/x-www-form-urlencoded`, `multipart/form-data` or
 *   `text/plain`).
 * A request with neither header comes from something that is not a browser
 * (curl, a server), which has no victim's cookie to ride.
 *
 * Auth.js's own routes keep their CSRF token; the payments webhook is signed.
 */
export type CrossSiteRefusal = { status: 403 | 415; message: string };

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

export function crossSiteRefusal(method: string, headers: Headers): CrossSiteRefusal | null {
  if (SAFE_METHODS.has(method.toUpperCase())) return null;
  const site = headers.get("sec-fetch-site");
  if (site !== null && site !== "same-origin" && site !== "none") {
    return { status: 403, message: "cross-site requests may not change anything here" };
  }
  const origin = headers.get("origin");
  if (site === null && origin !== null && !sameHost(origin, headers)) {
    return { status: 403, message: "cross-site requests may not change anything here" };
  }
  const type = (headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/json") {
    return { status: 415, message: "send the request body as application/json" };
  }
  return null;
}

/** Whether `origin` names the host the request was sent to (as the client addressed it). */
function sameHost(origin: string, headers: Headers): boolean {
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    return false; // "null" (sandboxed frames, file:) and garbage
  }
  const forwarded = headers.get("x-forwarded-host")?.split(",")[0]?.trim();
  return host === headers.get("host") || (forwarded !== undefined && host === forwarded);
}
