/**
 * Which requests are streams. tRPC percent-decodes a request's path and reads
 * a comma-separated batch from it, so `/api/trpc/events%2EonEvent` and
 * `/api/trpc/a,events.onEvent` name the stream procedure too: a request is a
 * stream whenever its decoded path names one, however it is spelled. The SSE
 * fast path serves the plain spelling; tRPC's own handler refuses the rest
 * (src/server/api/handler.ts), so every stream has the fast path's bounds.
 */

/** The header with which a test or benchmark asks tRPC's stock handler for a stream, where that is allowed. */
export const STOCK_TRANSPORT_HEADER = "x-events-transport";

export function namesStreamProcedure(url: string, procedures: readonly string[]): boolean {
  const query = url.indexOf("?");
  const path = query < 0 ? url : url.slice(0, query);
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return false; // tRPC cannot read it either
  }
  return procedures.some((procedure) => decoded.includes(procedure));
}

/** Whether this request asked for tRPC's stock handler (honoured only with EVENTS_ALLOW_STOCK_SSE=true). */
export const asksForStockStream = (header: string | string[] | null | undefined) => header === "trpc";
