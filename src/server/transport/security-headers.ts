/**
 * Headers every answer carries, API and streams included: nothing may frame
 * the app or sniff a type into its answers. Pages get a fuller
 * Content-Security-Policy, with a nonce, from src/proxy.ts, which replaces
 * this one.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "strict-origin-when-cross-origin",
  "x-frame-options": "DENY",
  "content-security-policy": "frame-ancestors 'none'",
};

/** Added when the client reached us over HTTPS (the socket, or a proxy of ours said so). */
export const HSTS_HEADER = { "strict-transport-security": "max-age=31536000" } as const;

/** The headers for a request: HSTS only over HTTPS. */
export function securityHeadersFor(forwardedProto: string | string[] | undefined): Readonly<Record<string, string>> {
  return forwardedProto === "https" ? SECURE : SECURITY_HEADERS;
}

const SECURE = { ...SECURITY_HEADERS, ...HSTS_HEADER };
