/**
 * The client's address as server.ts determined it. server.ts overwrites this
 * header on every request (a value the client sent is never kept), from the
 * socket, or from X-Forwarded-For when TRUST_PROXY_HOPS says how many proxies
 * of ours stand in front. Absent for in-process callers (createCaller).
 */
export const CLIENT_IP_HEADER = "x-live-events-client-ip";

export function clientIpOf(headers: Headers): string | null {
  return headers.get(CLIENT_IP_HEADER);
}
