"use client";

import { useContext, useEffect, useMemo, useRef, useState, useSyncExternalStore } from "react";

import type { EventName, LiveEvent } from "~/server/events";
import { api, LiveQueriesContext } from "./react";
import { sharedRoleStore } from "./shared-stream";
import { getTabId } from "./tab-id";

export type LiveConnectionStatus = "idle" | "connecting" | "live" | "reconnecting" | "error";

export interface UseLiveEventsOptions {
  /** Only these names (system events always arrive). Omit for every name. */
  names?: EventName[];
  /** Called once per event, never twice for the same id. */
  onEvent?: (event: LiveEvent) => void;
  enabled?: boolean;
  /** How many events `feed` keeps (newest first). */
  feedSize?: number;
}

// The cursor outlives the component: a remount (navigation, Fast Refresh)
// resumes where the last subscription stopped instead of starting blind.
const cursors = new Map<string, string>();

/** Ids recently delivered per subscription (by `names`): a repeat is dropped. */
const recentIds = new Map<string, Set<string>>();
const RECENT_IDS = 256;

/** True the first time `id` is seen for this subscription. */
function firstSight(namesKey: string, id: string): boolean {
  let seen = recentIds.get(namesKey);
  if (!seen) recentIds.set(namesKey, (seen = new Set()));
  if (seen.has(id)) return false;
  seen.add(id);
  if (seen.size > RECENT_IDS) seen.delete(seen.values().next().value!);
  return true;
}

/**
 * Typed live events for the signed-in user, over tRPC's SSE subscription.
 * Narrow on `event.name`; ids are de-duplicated and the cursor is kept across
 * re-subscriptions; events invalidate the React Query caches they make stale.
 */
export function useLiveEvents(options: UseLiveEventsOptions = {}) {
  const { names, enabled = true, feedSize = 50 } = options;
  const namesKey = names ? [...names].sort().join(",") : "*";
  const utils = api.useUtils();
  const [latest, setLatest] = useState<LiveEvent | null>(null);
  const [feed, setFeed] = useState<LiveEvent[]>([]);
  const [ready, setReady] = useState(false);
  const [gaps, setGaps] = useState(0);
  const [epoch, setEpoch] = useState(0);
  const [everLive, setEverLive] = useState(false);
  const onEventRef = useRef(options.onEvent);
  useEffect(() => {
    onEventRef.current = options.onEvent;
  });

  // Captured when (re)subscribing only; tRPC's link itself sends the newest
  // id on every automatic reconnect.
  const input = useMemo(
    () => ({ names, lastEventId: cursors.get(namesKey) ?? null, tabId: getTabId() || undefined }),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [namesKey, epoch],
  );

  // Events keep the cached queries current through the app's bindings (src/trpc/live-bindings.ts).
  const liveQueries = useContext(LiveQueriesContext);

  const subscription = api.events.onEvent.useSubscription(input, {
    enabled,
    onStarted: () => setReady(false),
    onData: ({ id, data: event }) => {
      if (event.name === "system.ready") {
        cursors.set(namesKey, id);
        setEverLive(true);
        setReady(true);
        // Being live changes presence (we are online now); without a replay, state
        // read before this moment may be behind: every live query reads it again.
        if (event.data.resumedFrom === null) liveQueries?.resync();
        else void utils.events.presence.invalidate();
        return;
      }
      if (event.name === "system.gap") {
        // Events may have been missed: refetch whatever state is on screen.
        cursors.set(namesKey, id);
        setGaps((n) => n + 1);
        liveQueries?.resync();
        return;
      }
      if (!firstSight(namesKey, id)) return; // already seen (sealed ids compare for equality only)
      cursors.set(namesKey, id);
      setLatest(event);
      setFeed((previous) => [event, ...previous].slice(0, feedSize));
      liveQueries?.apply(event);
      onEventRef.current?.(event);
    },
    onError: (error) => {
      // A cursor this server never issued (e.g. its clock moved back across a
      // restart): drop it and start fresh, treating it as a gap.
      if (error.data?.code === "BAD_REQUEST" && error.message.includes("lastEventId")) {
        cursors.delete(namesKey);
        setGaps((n) => n + 1);
        liveQueries?.resync();
        setEpoch((n) => n + 1);
      }
    },
  });

  const sharing = useSyncExternalStore(sharedRoleStore.subscribe, sharedRoleStore.get, () => null);

  let status: LiveConnectionStatus;
  switch (subscription.status) {
    case "idle":
      status = "idle";
      break;
    case "error":
      status = "error";
      break;
    case "connecting":
      status = everLive ? "reconnecting" : "connecting";
      break;
    case "pending":
      status = ready ? "live" : everLive ? "reconnecting" : "connecting";
      break;
  }

  return {
    status,
    latest,
    feed,
    /** How many times the server said events may have been missed. */
    gaps,
    error: subscription.error,
    /**
     * Which tab holds the stream the tabs of this sign-in share: this one
     * (`leader`) or another (`follower`); null when this tab has its own.
     */
    sharing,
    /** Drops the subscription and opens a new one from the current cursor. */
    reconnect: () => setEpoch((n) => n + 1),
  };
}
