/**
 * Server-Sent Events frames exactly as tRPC's `sseStreamProducer` writes them
 * and `httpSubscriptionLink` reads them: `connected` with the client options,
 * `ping`, data with the tracked id in `id:`, `serialized-error`, `return`.
 * Each line ends with "\n" and each frame with an extra "\n\n".
 *
 * An event's frame is built once per emit and shared by every recipient:
 * `toStreamItem` returns one item per envelope, and its bytes are cached here.
 */
import superjson from "superjson";

import type { StreamItem } from "~/server/events";

const encode = (text: string) => Buffer.from(text, "utf8");

/** The headers of tRPC's SSE responses (tests/unit/trpc-wire.test.ts compares them with its handler's). */
export const SSE_HEADERS: Readonly<Record<string, string>> = {
  "Content-Type": "text/event-stream",
  "Cache-Control": "no-cache, no-transform",
  "X-Accel-Buffering": "no",
  Connection: "keep-alive",
};

export const pingFrame = encode("event: ping\ndata: \n\n\n");
export const returnFrame = encode("event: return\ndata: \n\n\n");

export function connectedFrame(clientOptions: object): Buffer {
  return encode(`event: connected\ndata: ${JSON.stringify(clientOptions)}\n\n\n`);
}

export function errorFrame(shape: unknown): Buffer {
  return encode(`event: serialized-error\ndata: ${JSON.stringify(superjson.serialize(shape))}\n\n\n`);
}

/**
 * An EventSource keeps a `retry:` value for every later reconnect too, not
 * only the next one, so the field never asks for more than a few seconds.
 */
const MAX_RETRY_FIELD_MS = 5_500;

/**
 * Ends a stream with when to come back (the server is shutting down and
 * paces its clients' return): a `reconnect` event with the delay, which the
 * app's own client reads and uses once, and `retry:` (held to a few seconds)
 * for any other EventSource, which cannot be told a delay for one reconnect
 * only. tRPC's link listens for neither, so its wire is unchanged.
 */
export function reconnectFrame(ms: number): Buffer {
  const afterMs = Math.round(ms);
  const retry = Math.min(afterMs, MAX_RETRY_FIELD_MS);
  return encode(`retry: ${retry}\nevent: reconnect\ndata: {"afterMs":${afterMs}}\n\n`);
}

const frames = new WeakMap<object, Buffer>();

/** The bytes of one item; the same buffer for every recipient of the same event. */
export function itemFrame(item: StreamItem): Buffer {
  let frame = frames.get(item);
  if (!frame) {
    frame = encode(`data: ${JSON.stringify(superjson.serialize(item.event))}\nid: ${item.id}\n\n\n`);
    frames.set(item, frame);
  }
  return frame;
}

const chunks = new WeakMap<Buffer, Buffer>();
const CRLF = Buffer.from("\r\n");

/** A frame as one HTTP/1.1 chunk (size line, bytes, CRLF); built once per frame buffer. */
export function chunkOf(frame: Buffer): Buffer {
  let chunk = chunks.get(frame);
  if (!chunk) {
    chunk = Buffer.concat([Buffer.from(`${frame.length.toString(16)}\r\n`), frame, CRLF]);
    chunks.set(frame, chunk);
  }
  return chunk;
}
