/**
 * Client bodies still streaming out of this isolate. Background copies (a verified spool's upload to
 * the store) give way to them: an isolate runs on one thread, and a copy into the store that shares it
 * with clients slows every client down (under `wrangler dev` the local R2 costs ~20 ms of that thread
 * per MiB written). Counted per isolate: the only clients a copy can slow down are its neighbours.
 *
 * A plain counter, polled: Durable Objects sharing an isolate may read each other's numbers, but a
 * promise made in one object's request may not be settled from another's.
 */
let active = 0;
/** How often a waiting copy looks at the counter again. */
const POLL_MS = 10;

/** Counts one client body until the returned function is called (once; later calls do nothing). */
export function beginForeground(): () => void {
  active++;
  let ended = false;
  return () => {
    if (ended) return;
    ended = true;
    active--;
  };
}

/**
 * The body with its length declared, counted as foreground until its last byte is taken (or the
 * client goes away). Piped natively: no JavaScript runs per chunk.
 */
export function foregroundBody(body: ReadableStream<Uint8Array>, length: number): ReadableStream<Uint8Array> {
  const end = beginForeground();
  const { readable, writable } = new FixedLengthStream(length);
  body
    .pipeTo(writable)
    .catch(() => {})
    .finally(end);
  return readable;
}

/** How many client bodies are streaming in this isolate now. */
export function foregroundCount(): number {
  return active;
}

/**
 * Resolves once no client body is streaming in this isolate, or after `ms` at the latest: background
 * work waits, but never starves while clients keep coming.
 */
export async function foregroundQuiet(ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (active > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, Math.min(POLL_MS, deadline - Date.now())));
  }
}

/**
 * Passes `source` on chunk by chunk, each one only once this isolate's clients are quiet (or after
 * `ms`), and never faster than half the sink's pace: for copies nobody waits on. The pause after each
 * chunk matters because a request that has just arrived is not counted yet: under `wrangler dev`, the
 * local R2 took the thread so fully that a client's next request waited for the whole upload.
 */
export function givingWayToClients(
  source: ReadableStream<Uint8Array>,
  ms: number,
): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  let handedOn = 0;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        // As long again as the sink took for the last chunk: the copy never holds the thread for more
        // than half the time, so requests arriving meanwhile get through before they are counted.
        const busy = handedOn ? Date.now() - handedOn : 0;
        if (busy > 0) await new Promise((resolve) => setTimeout(resolve, busy));
        await foregroundQuiet(ms);
        handedOn = Date.now();
        try {
          const { done, value } = await reader.read();
          if (done) controller.close();
          else controller.enqueue(value);
        } catch (error) {
          controller.error(error);
        }
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 },
  );
}
