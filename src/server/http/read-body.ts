/**
 * Reads a request body as it streams in, with a hard cap that holds whether
 * or not the client sent (or lied in) Content-Length: past `maxBytes` the
 * stream is cancelled and nothing more is read or kept.
 */
export type CappedBody = { ok: true; body: Buffer } | { ok: false; reason: "too_large" };

export async function readBodyCapped(stream: ReadableStream<Uint8Array> | null, maxBytes: number): Promise<CappedBody> {
  if (!stream) return { ok: true, body: Buffer.alloc(0) };
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => {});
      return { ok: false, reason: "too_large" };
    }
    chunks.push(value);
  }
  return { ok: true, body: Buffer.concat(chunks, size) };
}
