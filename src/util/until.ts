/**
 * Resolves once `ready()` holds, or after `ms` at the latest. It looks again whenever the callback
 * handed to `listen` is called (before each wait it hands a fresh one) and at least every `recheckMs`.
 * One timer per wait, not one per look: the waits this serves are woken once per chunk or more, and a
 * timer set and cleared on every wake was a tenth of a cold fill's CPU profile.
 */
export async function until(
  ready: () => boolean,
  ms: number,
  listen: (look: () => void) => void,
  recheckMs = ms,
): Promise<void> {
  if (ready()) return;
  const deadline = Date.now() + ms;
  let look: (() => void) | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    while (!ready() && Date.now() < deadline) {
      timer ??= setTimeout(
        () => {
          timer = undefined;
          look?.();
        },
        Math.max(0, Math.min(recheckMs, deadline - Date.now())),
      );
      await new Promise<void>((resolve) => {
        look = resolve;
        listen(resolve);
      });
    }
  } finally {
    clearTimeout(timer);
  }
}
