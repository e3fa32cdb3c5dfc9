/** The in-process engines run the same conformance suites as every other implementation. */
import { MemoryPresence } from "~/server/events/presence-memory";
import { MemoryReplayLog } from "~/server/events/replay-log-memory";
import { MemoryTransport } from "~/server/events/transport-memory";
import { presenceConformance } from "../conformance/presence.suite";
import { replayLogConformance } from "../conformance/replay-log.suite";
import { transportConformance } from "../conformance/transport.suite";

replayLogConformance("memory", async (retention) => new MemoryReplayLog(retention));

transportConformance("memory", async () => {
  const transport = new MemoryTransport();
  return { a: transport, b: transport, close: () => transport.close() };
});

presenceConformance("memory", async (onChange) => new MemoryPresence(onChange));
