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
 *
 * `failed` is told when the pipe fails before the last byte: the client went away, or the source failed
 * (a native pipe cannot tell which; a JavaScript relay that could cost ~5 ms of CPU per MiB).
 */
export function foregroundBody(
  body: ReadableStream<Uint8Array>,
  length: number,
  failed: () => void = () => {},
): ReadableStream<Uint8Array> {
  const end = beginForeground();
  const { readable, writable } = new FixedLengthStream(length);
  body.pipeTo(writable, { preventClose: true }).then(
    () => {
      end();
      writable.close().catch(() => {});
    },
    () => {
      end();
      failed();
    },
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

/**
 * The most a background copy (a spool's upload) waits for this isolate's clients, per MiB it passes
 * on: it yields the thread to them, but always moves, so an upload of any size finishes however busy
 * the isolate is (an 8 GiB spool waits ~7 minutes at most, spread over its alarms).
 */
export const YIELD_MS_PER_MIB = 50;
const MIB = 1024 * 1024;
/** An upload starts once clients have been quiet this long (a pull's requests come with shorter gaps)… */
const START_QUIET_MS = 200;
/** …or after this at the latest, and never later than YIELD_MS_PER_MIB per MiB of what it uploads. */
const START_MAX_MS = 2_000;

/** Resolves when a background upload of `bytes` may start (see START_QUIET_MS, START_MAX_MS). */
export function uploadMayStart(bytes: number): Promise<void> {
  const bound = Math.min(START_MAX_MS, Math.ceil(bytes / MIB) * YIELD_MS_PER_MIB);
  return foregroundQuiet(bound, START_QUIET_MS);
}

/** A background copy has a chunk in its sink: copies take turns, so one does not crowd out the clients. */
let backgroundChunkInFlight = false;

/**
 * Passes `source` on chunk by chunk (chunks of at most 1 MiB), each once this isolate's clients are
 * quiet and no other background copy has a chunk in its sink, or after YIELD_MS_PER_MIB at the latest:
 * a copy gives way to clients and to other copies, yet gets its share of the thread.
 */
export function givingWayToClients(source: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  let holdsTurn = false;
  const endTurn = () => {
    if (!holdsTurn) return;
    holdsTurn = false;
    backgroundChunkInFlight = false;
  };
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        endTurn();
        const deadline = Date.now() + YIELD_MS_PER_MIB;
        await foregroundQuiet(YIELD_MS_PER_MIB);
        while (backgroundChunkInFlight && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, Math.min(POLL_MS, deadline - Date.now())));
        }
        if (!backgroundChunkInFlight) {
          backgroundChunkInFlight = true;
          holdsTurn = true;
        }
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
