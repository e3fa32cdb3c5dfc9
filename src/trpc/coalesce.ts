/**
 * At most one run per `intervalMs`: the first call runs at once, the calls
 * that follow within the interval run once at its end. Live events
 * invalidate queries, and a burst of them (every member of an organisation
 * coming online after a deploy, each a `presence.changed`) would otherwise
 * make every open page refetch once per event; coalesced, a page refetches
 * at most once per interval and still ends on the state after the last event.
 */
export function coalesce(run: () => void, intervalMs: number): () => void {
  let quietUntil = 0;
  let trailing: ReturnType<typeof setTimeout> | undefined;
  const fire = () => {
    trailing = undefined;
    quietUntil = Date.now() + intervalMs;
    run();
  };
  return () => {
    if (trailing) return;
    const wait = quietUntil - Date.now();
    if (wait <= 0) fire();
    else trailing = setTimeout(fire, wait);
  };
}
