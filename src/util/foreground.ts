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
/** When the last client body ended (0: none yet). */
let lastEnded = 0;
/**
 * How often a waiting copy looks at the counter again. Every waiting copy polls (a cold pull has one
 * upload per blob), so a short interval costs the thread its clients need: 10 ms meant up to ~2,000
 * wake-ups a second during a 20-layer cold pull. Background copies need no finer timing than this.
 */
const POLL_MS = 50;

/** Counts one client body until the returned function is called (once; later calls do nothing). */
export function beginForeground(): () => void {
  active++;
  let ended = false;
  return () => {
    if (ended) return;
    ended = true;
    active--;
    lastEnded = Date.now();
  };
}

/**
 * The body with its length declared, counted as foreground until its last byte is taken (or the
 * client goes away). Piped natively: no JavaScript runs per chunk. The count ends when the source is
 * drained, not when the pipe has closed: the HTTP side stops reading at Content-Length, so the close
 * may never complete, and a count waiting for it stayed up for good (every background copy in the
 * isolate then took the clients for busy, for ever).
 */
export function foregroundBody(body: ReadableStream<Uint8Array>, length: number): ReadableStream<Uint8Array> {
  const end = beginForeground();
  const { readable, writable } = new FixedLengthStream(length);
  body.pipeTo(writable, { preventClose: true }).then(
    () => {
      end();
      writable.close().catch(() => {});
    },
    () => end(),
  );
  return readable;
}

/** How many client bodies are streaming in this isolate now. */
export function foregroundCount(): number {
  return active;
}

/**
 * Resolves once no client body has been streaming in this isolate for `quietMs` (0: none is streaming
 * now), or after `maxMs` at the latest: background work waits, but never starves while clients keep
 * coming. A copy that should wait until a pull is over, not only for a gap between its requests (a
 * client's next request is not counted until it arrives), asks for a while of quiet.
 */
export async function foregroundQuiet(maxMs: number, quietMs = 0): Promise<void> {
  const deadline = Date.now() + maxMs;
  for (;;) {
    const now = Date.now();
    if (now >= deadline) return;
    if (active === 0 && now - lastEnded >= quietMs) return;
    const wait = active > 0 ? POLL_MS : quietMs - (now - lastEnded);
    await new Promise((resolve) => setTimeout(resolve, Math.min(wait, deadline - now)));
  }
}

/** A background copy has a chunk in its sink: copies take turns, so together they take half the thread. */
let backgroundChunkInFlight = false;
let turnStartedAt = 0;
/** A turn longer than this is taken over: a copy whose sink failed without telling must not block the rest. */
const MAX_TURN_MS = 10_000;

/**
 * Passes `source` on chunk by chunk, each one only once this isolate's clients are quiet (or after
 * `ms`), one background copy's chunk at a time, and never faster than half the sink's pace: for copies
 * nobody waits on. The pause after each chunk matters because a request that has just arrived is not
 * counted yet: under `wrangler dev`, the local R2 took the thread so fully that a client's next request
 * waited for the whole upload.
 */
export function givingWayToClients(
  source: ReadableStream<Uint8Array>,
  ms: number,
): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  /** When this copy's last chunk went to the sink; 0 while it holds no turn. */
  let handedOn = 0;
  const endTurn = (): number => {
    if (!handedOn) return 0;
    const busy = Date.now() - handedOn;
    handedOn = 0;
    backgroundChunkInFlight = false;
    return busy;
  };
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        // As long again as the sink took for the last chunk.
        const busy = endTurn();
        if (busy > 0) await new Promise((resolve) => setTimeout(resolve, busy));
        await foregroundQuiet(ms);
        while (backgroundChunkInFlight && Date.now() - turnStartedAt < MAX_TURN_MS) {
          await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        }
        backgroundChunkInFlight = true;
        handedOn = turnStartedAt = Date.now();
        try {
          const { done, value } = await reader.read();
          if (done) {
            endTurn();
            controller.close();
          } else controller.enqueue(value);
        } catch (error) {
          endTurn();
          controller.error(error);
        }
      },
      cancel: (reason) => {
        endTurn();
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}
