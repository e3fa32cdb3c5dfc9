import type { IncomingHttpHeaders } from "node:http";

/**
 * A Node request's headers as Fetch `Headers`. From `req.headers`, never the
 * raw ones: server.ts overwrites the client-address header there.
 */
export function headersOf(incoming: IncomingHttpHeaders): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(incoming)) {
    if (Array.isArray(value)) for (const item of value) headers.append(name, item);
    else if (value !== undefined) headers.append(name, value);
  }
  return headers;
}
