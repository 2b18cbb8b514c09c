// Refresh on a timer without a reload: backs off while answers fail or nothing changes, pauses while the
// tab is hidden, and snaps back to the base interval when something changed or the tab comes back.
export function startPolling(load, { baseMs = 5000, maxMs = 60000 } = {}) {
  let delay = baseMs;
  let timer = null;
  let stopped = false;
  let last = null;
  const schedule = () => {
    clearTimeout(timer);
    if (!stopped && document.visibilityState !== "hidden") timer = setTimeout(tick, delay);
  };
  const tick = async () => {
    try {
      const fingerprint = JSON.stringify(await load());
      delay = fingerprint === last ? Math.min(delay * 2, maxMs) : baseMs;
      last = fingerprint;
    } catch {
      delay = Math.min(delay * 2, maxMs);
    }
    schedule();
  };
  const onVisibility = () => {
    if (document.visibilityState === "hidden") {
      clearTimeout(timer);
    } else {
      delay = baseMs;
      tick();
    }
  };
  document.addEventListener("visibilitychange", onVisibility);
  schedule();
  return () => {
    stopped = true;
    clearTimeout(timer);
    document.removeEventListener("visibilitychange", onVisibility);
  };
}
