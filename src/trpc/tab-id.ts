"use client";

const KEY = "t3-live-events.tab-id";
let memoryFallback: string | null = null;

function randomTabId(): string {
  return typeof crypto !== "undefined" && "randomUUID" in crypto
    ? crypto.randomUUID()
    : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`;
}

/**
 * This tab's id: kept in sessionStorage, so it survives reloads of the tab and
 * differs between tabs (a duplicated tab inherits it, as browsers copy
 * sessionStorage). The server scopes it under the sign-in session.
 */
export function getTabId(): string {
  if (typeof window === "undefined") return "";
  try {
    let id = window.sessionStorage.getItem(KEY);
    if (!id) {
      id = randomTabId();
      window.sessionStorage.setItem(KEY, id);
    }
    return id;
  } catch {
    // Storage disabled (privacy settings): one id per page load.
    return (memoryFallback ??= randomTabId());
  }
}
