/**
 * Resolves once `promise` settles (a rejection counts as settled, and is not passed on), or after `ms`
 * at the latest: the promise goes on either way. For waits on shared work a request may not block on.
 */
export async function within(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      promise.catch(() => {}),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
