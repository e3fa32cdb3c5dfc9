/**
 * A request whose body stops at `maxBytes` however it is sent (Content-Length
 * or chunked): past the cap the body stream errors with tRPC's
 * PAYLOAD_TOO_LARGE, which its handler answers with a 413, and nothing more
 * is read from the client. A body that declares its length within the cap
 * passes as it is.
 */
import { TRPCError } from "@trpc/server";

export function withCappedBody(req: Request, maxBytes: number): Request {
  if (!req.body) return req;
  const declared = Number(req.headers.get("content-length") ?? NaN);
  // Node's HTTP parser reads exactly the declared length, never more: nothing to count.
  if (declared <= maxBytes) return req;
  let size = 0;
  const source = req.body;
  const capped =
    declared > maxBytes
      ? new ReadableStream<Uint8Array>({
          start(controller) {
            void source.cancel().catch(() => {});
            controller.error(tooLarge(maxBytes));
          },
        })
      : source.pipeThrough(
          new TransformStream<Uint8Array, Uint8Array>({
            transform(chunk, controller) {
              size += chunk.byteLength;
              if (size > maxBytes) controller.error(tooLarge(maxBytes));
              else controller.enqueue(chunk);
            },
          }),
        );
  return new Request(req.url, {
    method: req.method,
    headers: req.headers,
    body: capped,
    duplex: "half",
  } as RequestInit);
}

const tooLarge = (maxBytes: number) =>
  new TRPCError({ code: "PAYLOAD_TOO_LARGE", message: `the request body is over the limit of ${maxBytes} bytes` });
