/**
 * The app's runtime for in-process tests and benchmarks, built as
 * src/instrumentation.ts builds it for the server, and published once per
 * test process (the database is the test environment's, in memory).
 */
import { publishRuntime, runtime, type Runtime } from "~/server/runtime";
import { createRuntime } from "~/server/runtime/runtime";
import { createEventLayer } from "~/server/runtime/event-layer";
import type { EventLayerConfig } from "~/server/events";

export function testRuntime(): Runtime {
  return publishRuntime(() => createRuntime());
}

/** The test process's event layer (the runtime's). */
export const getEventLayer = () => runtime().events;

/** A new event layer for the process's runtime (one per test); `overrides` adjust the environment's configuration. */
export function freshEventLayer(overrides: Partial<EventLayerConfig> = {}) {
  testRuntime();
  const layer = createEventLayer(overrides, runtime().redisErrors, runtime().instanceId);
  runtime().useEventLayer(layer);
  return layer;
}
