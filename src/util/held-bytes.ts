/**
 * The bytes the blob fills of this isolate hold in memory: rows kept for readers that keep up, small
 * blobs spooled in memory, chunks on their way from the upstream or to the store. Fill objects share
 * isolates, and an isolate has 128 MB in all (heap included): one budget for all of them, kept here
 * because only module memory is shared between the objects of an isolate.
 */
let budget = 48 * 1024 * 1024;
let held = 0;
let peak = 0;
/** How often a chunk waiting for room looks again (the fills holding it release it chunk by chunk). */
const ROOM_POLL_MS = 10;
/**
 * Holdings that can be given back on demand, oldest first: a store-through client's window, whose
 * client then continues from its own source. A download must never wait for a client that reads nothing.
 */
const yielding = new Set<() => void>();

/**
 * Bytes held only to save a read: a spool's newest rows, kept for the readers that keep up, which
 * read them back from SQLite once they are gone. A chunk that must be read takes its room from them
 * first, from the largest: four spools' rows must not stop every other download in the isolate.
 */
export interface HeldCache {
  /** Bytes this cache holds now. */
  readonly bytes: number;
  /** Lets go of (and releases) its oldest entry; false when it has none it may let go of. */
  evictOldest(): boolean;
}
const caches = new Set<HeldCache>();

/** Registers a cache that chunks which must be read may take room from; returns what unregisters it. */
export function evictableWhenSqueezed(cache: HeldCache): () => void {
  caches.add(cache);
  return () => {
    caches.delete(cache);
  };
}

/** Lets go of the oldest entry of the largest cache; false when no cache has one to let go of. */
function evictFromCaches(): boolean {
  const bySize = [...caches].sort((a, b) => b.bytes - a.bytes);
  for (const cache of bySize) {
    if (cache.bytes > 0 && cache.evictOldest()) return true;
  }
  return false;
}

export interface HeldBytes {
  readonly held: number;
  readonly peak: number;
  readonly budget: number;
}

/** Sets the budget (from the configuration: every fill call passes it on). */
export function limitHeldBytes(bytes: number): void {
  budget = bytes;
}

/** Holds `bytes` if the budget has room for them; false (nothing held) otherwise. */
export function tryHold(bytes: number): boolean {
  if (held + bytes > budget) return false;
  held += bytes;
  if (held > peak) peak = held;
  return true;
}

/**
 * Holds `bytes` if the budget has room for them once the caches have let go of what they may (rows
 * kept only to save a read); false (nothing held) otherwise. Nobody's window is taken back for them.
 */
export function tryHoldEvicting(bytes: number): boolean {
  while (!tryHold(bytes)) if (!evictFromCaches()) return false;
  return true;
}

/** Holds `bytes` whether or not there is room (what exists nowhere else, and must be counted). */
export function holdAnyway(bytes: number): void {
  held += bytes;
  if (held > peak) peak = held;
}

/**
 * Holds `bytes` once there is room: a chunk that must be read waits for one. Nothing held at all is
 * room enough (a budget smaller than one chunk must not stop every download).
 */
export async function holdWhenRoom(bytes: number): Promise<void> {
  while (held > 0 && !tryHoldEvicting(bytes)) {
    const oldest = yielding.values().next();
    if (!oldest.done) {
      yielding.delete(oldest.value);
      oldest.value();
      continue;
    }
    await new Promise((resolve) => setTimeout(resolve, ROOM_POLL_MS));
  }
  if (held === 0) holdAnyway(bytes);
}

/**
 * Registers a holding that `giveBack` lets go of (releasing its bytes) when a chunk that must be read
 * finds no room; returns what unregisters it (once it holds nothing).
 */
export function yieldWhenSqueezed(giveBack: () => void): () => void {
  yielding.add(giveBack);
  return () => {
    yielding.delete(giveBack);
  };
}

export function releaseHeld(bytes: number): void {
  held = Math.max(0, held - bytes);
}

/** What is held now, the most held since the last reset, and the budget. */
export function heldBytes(reset = false): HeldBytes {
  const now = { held, peak, budget };
  if (reset) peak = held;
  return now;
}

/**
 * `source` passed on chunk by chunk, each counted as held from the moment it is asked for until the
 * next one is (or the stream ends): a chunk is read only once the budget has room for `chunkBytes`, so
 * beyond the budget the stream stops reading ahead. With `length`, the stream closes (and lets go) with
 * its last byte: a consumer that knows the length (R2) never asks for the end.
 */
export function metered(
  source: ReadableStream<Uint8Array>,
  chunkBytes: number,
  length = Number.POSITIVE_INFINITY,
): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  let holding = 0;
  let passed = 0;
  const letGo = () => {
    releaseHeld(holding);
    holding = 0;
  };
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        letGo();
        await holdWhenRoom(chunkBytes);
        holding = chunkBytes;
        try {
          const { done, value } = await reader.read();
          if (done) {
            letGo();
            controller.close();
            return;
          }
          // Counted as large as it is: a smaller one gives the rest of the room back.
          if (value.byteLength !== holding) {
            releaseHeld(holding);
            holding = value.byteLength;
            holdAnyway(holding);
          }
          controller.enqueue(value);
          passed += value.byteLength;
          if (passed >= length) {
            letGo();
            controller.close();
          }
        } catch (error) {
          letGo();
          controller.error(error);
        }
      },
      cancel(reason) {
        letGo();
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}
