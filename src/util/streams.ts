import { StallWatch } from "./stall-watch";

/** Stream helpers shared by the layers. Blobs are never collected in memory; only small bodies are. */

export class BodyTooLargeError extends Error {
  override name = "BodyTooLargeError";
}

/** Reads a small body (a manifest, an error document) whole, refusing more than `limit` bytes. */
export async function readLimited(body: ReadableStream<Uint8Array>, limit: number): Promise<Uint8Array> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let length = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    length += value.byteLength;
    if (length > limit) {
      await reader.cancel();
      throw new BodyTooLargeError(`body exceeds ${limit} bytes`);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/**
 * The stream with its length declared (so responses and R2 get a Content-Length). A failure of the
 * source reaches the reader as an error; it is not also reported as an unhandled rejection.
 */
export function withLength(body: ReadableStream<Uint8Array>, length: number): ReadableStream<Uint8Array> {
  const { readable, writable } = new FixedLengthStream(length);
  body.pipeTo(writable).catch(() => {});
  return readable;
}

/**
 * The bytes `start`..`end` (inclusive) of a whole body, cut as it streams. The source is read to its
 * end, and the last piece is held back until it ends cleanly: a source that checks itself as it is read
 * (a digest) fails the slice too, so a client never gets a clean end of bytes that did not check out.
 */
export function sliceOf(
  body: ReadableStream<Uint8Array>,
  range: { readonly start: number; readonly end: number },
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let offset = 0;
  let held: Uint8Array | null = null;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) {
            if (held) controller.enqueue(held);
            controller.close();
            return;
          }
          const from = Math.max(range.start - offset, 0);
          const to = Math.min(range.end + 1 - offset, value.byteLength);
          offset += value.byteLength;
          if (to <= from) continue;
          const previous = held;
          held = value.subarray(from, to);
          if (previous) {
            controller.enqueue(previous);
            return;
          }
        }
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 },
  );
}

export class StalledError extends Error {
  override name = "StalledError";
}

/**
 * Errors the stream when a read waits more than `ms` for a chunk (and cancels the source): an upstream
 * that stops sending mid-body must not hold a fill, or the clients waiting on it, forever. Only a
 * pending read counts (a slow consumer is not a stall), and one timer watches the whole stream rather
 * than one per read, which would cost more than the read itself.
 */
export function idleTimeout(source: ReadableStream<Uint8Array>, ms: number): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  let stalled: StalledError | null = null;
  const watch = new StallWatch(ms, () => {
    stalled = new StalledError(`no data for ${ms} ms`);
    reader.cancel(stalled).catch(() => {}); // Ends the pending read.
  });
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        watch.start();
        try {
          const { done, value } = await reader.read();
          watch.stop();
          if (stalled) throw stalled;
          if (done) {
            watch.dispose();
            controller.close();
          } else controller.enqueue(value);
        } catch (error) {
          watch.dispose();
          reader.cancel(error).catch(() => {});
          controller.error(stalled ?? error);
        }
      },
      cancel: (reason) => {
        watch.dispose();
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

/** The least a read of `rechunk` waits for (where the runtime lets it wait): a quarter of a MiB. */
const MIN_READ_BYTES = 256 * 1024;

/**
 * Regroups a byte stream into chunks of `size` bytes (the last may be shorter), reading straight into
 * each chunk's buffer (a BYOB reader) where the source allows. Network bodies arrive in many small
 * pieces; every later stage (tee, hash, spool, R2) then runs once per chunk instead of once per piece.
 */
export function rechunk(
  source: ReadableStream<Uint8Array>,
  size: number,
  /** A smaller first chunk, so the first bytes reach readers sooner. */
  firstSize = size,
): ReadableStream<Uint8Array> {
  let byob: ReadableStreamBYOBReader | null = null;
  let plain: ReadableStreamDefaultReader<Uint8Array> | null = null;
  try {
    byob = source.getReader({ mode: "byob" });
  } catch {
    plain = source.getReader(); // Not a byte stream: copy pieces into the chunk instead.
  }
  let leftover: Uint8Array | null = null;
  let ended = false;

  /** Reads until `length` bytes are in (or the source ends); the chunk may be shorter at the end. */
  async function fill(length: number): Promise<Uint8Array> {
    let buffer = new ArrayBuffer(length);
    let filled = 0;
    while (filled < length && !ended) {
      if (byob) {
        const view = new Uint8Array(buffer, filled, length - filled);
        // workerd can wait for a minimum: a few reads per chunk instead of one per network packet (each
        // read costs the isolate a promise and a buffer transfer). Not the whole chunk: a read that
        // waits for a MiB would look like a stall to `idleTimeout` on a slow upstream.
        const { done, value } = await (byob.readAtLeast
          ? byob.readAtLeast(Math.min(view.byteLength, MIN_READ_BYTES), view)
          : byob.read(view));
        // The read takes the buffer over and gives it back in `value`, even at the end.
        if (value) buffer = value.buffer as ArrayBuffer;
        if (done || !value) ended = true;
        else filled += value.byteLength;
        continue;
      }
      const piece = leftover ?? (await plain?.read())?.value;
      leftover = null;
      if (!piece) {
        ended = true;
        continue;
      }
      const take = Math.min(piece.byteLength, length - filled);
      new Uint8Array(buffer, filled, take).set(piece.subarray(0, take));
      if (take < piece.byteLength) leftover = piece.subarray(take);
      filled += take;
    }
    return new Uint8Array(buffer, 0, filled);
  }
  let first = true;

  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const chunk = await fill(first ? firstSize : size);
          first = false;
          if (chunk.byteLength > 0) controller.enqueue(chunk);
          if (ended) controller.close();
        } catch (error) {
          controller.error(error);
        }
      },
      cancel: (reason) => (byob ?? plain)?.cancel(reason),
    },
    { highWaterMark: 0 },
  );
}
