/**
 * The one request-body cap. A body stops at `maxBytes` however it is sent
 * (Content-Length or chunked): past the cap nothing more is read from the
 * client or kept. tRPC's requests get it as a wrapped `Request` whose body
 * errors with PAYLOAD_TOO_LARGE (its handler answers 413); routes that want
 * the raw bytes (webhooks, whose signature covers them) read them whole.
 */
import { TRPCError } from "@trpc/server";

const tooLarge = (maxBytes: number) =>
  new TRPCError({ code: "PAYLOAD_TOO_LARGE", message: `the request body is over the limit of ${maxBytes} bytes` });

/** The body, erroring with `tooLarge` once more than `maxBytes` went through (or at once when declared over). */
function capped(source: ReadableStream<Uint8Array>, declared: number, maxBytes: number): ReadableStream<Uint8Array> {
  if (declared > maxBytes) {
    return new ReadableStream<Uint8Array>({
      start(controller) {
        void source.cancel().catch(() => {});
        controller.error(tooLarge(maxBytes));
      },
    });
  }
  let size = 0;
  return source.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        size += chunk.byteLength;
        if (size > maxBytes) controller.error(tooLarge(maxBytes));
        else controller.enqueue(chunk);
      },
    }),
  );
}

const declaredLength = (headers: Headers) => Number(headers.get("content-length") ?? NaN);

/** The request with its body capped; a body that declares its length within the cap passes as it is. */
export function withCappedBody(req: Request, maxBytes: number): Request {
  if (!req.body) return req;
  const declared = declaredLength(req.headers);
  // Node's HTTP parser reads exactly the declared length, never more: nothing to count.
  if (declared <= maxBytes) return req;
  return new Request(req.url, {
    method: req.method,
    headers: req.headers,
    body: capped(req.body, declared, maxBytes),
    duplex: "half",
  } as RequestInit);
}

export type CappedBody = { ok: true; body: Buffer } | { ok: false; reason: "too_large" };

/** The whole body as bytes, or `too_large` as soon as it passes the cap (nothing past it is read). */
export async function readBodyCapped(req: Request, maxBytes: number): Promise<CappedBody> {
  if (!req.body) return { ok: true, body: Buffer.alloc(0) };
  const reader = capped(req.body, declaredLength(req.headers), maxBytes).getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      chunks.push(value);
    }
  } catch (error) {
    if (error instanceof TRPCError && error.code === "PAYLOAD_TOO_LARGE") return { ok: false, reason: "too_large" };
    throw error;
  }
  return { ok: true, body: Buffer.concat(chunks, size) };
}
