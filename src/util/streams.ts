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
 * Splits a stream in two that advance together: a chunk is read from the source only when every
 * branch still reading has asked for more. Unlike `tee()`, which buffers without bound for the slower
 * branch, memory stays at a chunk or two per branch. A branch that is cancelled (a client that went
 * away) is dropped and the other one goes on alone, so a cache fill outlives its first reader.
 */
export function lockstepTee(
  source: ReadableStream<Uint8Array>,
): [ReadableStream<Uint8Array>, ReadableStream<Uint8Array>] {
  const reader = source.getReader();
  const branches: Array<ReadableStreamDefaultController<Uint8Array> | null> = [null, null];
  const cancelled = [false, false];
  const waiting: Array<(() => void) | null> = [null, null];
  let reading: Promise<void> | null = null;

  const readOnce = async () => {
    try {
      const { done, value } = await reader.read();
      branches.forEach((controller, index) => {
        if (!controller || cancelled[index]) return;
        if (done) controller.close();
        // Each branch owns its bytes: a native sink (R2, a digest) may take over (detach) the buffer
        // it is given, which would empty the chunk under the other branch.
        else controller.enqueue(index === 0 ? value : value.slice());
      });
    } catch (error) {
      branches.forEach((controller, index) => {
        if (controller && !cancelled[index]) controller.error(error);
      });
    }
  };

  // Each branch's pull resolves once the source has advanced; the source advances only when all live
  // branches are waiting, so the faster one is held back to the pace of the slower one.
  const pull = (index: number) =>
    new Promise<void>((resolve) => {
      waiting[index] = resolve;
      advanceIfAllWaiting();
    });

  function advanceIfAllWaiting() {
    if (reading) return;
    const live = [0, 1].filter((index) => !cancelled[index]);
    if (live.length === 0 || !live.every((index) => waiting[index])) return;
    reading = readOnce().then(() => {
      reading = null;
      for (const index of live) {
        const resolve = waiting[index];
        waiting[index] = null;
        resolve?.();
      }
    });
  }

  const branch = (index: number) =>
    new ReadableStream<Uint8Array>(
      {
        start(controller) {
          branches[index] = controller;
        },
        pull: () => pull(index),
        cancel: async (reason) => {
          cancelled[index] = true;
          const resolve = waiting[index];
          waiting[index] = null;
          resolve?.();
          if (cancelled.every(Boolean)) await reader.cancel(reason);
          else advanceIfAllWaiting();
        },
      },
      { highWaterMark: 0 },
    );

  return [branch(0), branch(1)];
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

export class StalledError extends Error {
  override name = "StalledError";
}

/**
 * Errors the stream when no chunk arrives for `ms` (and cancels the source): an upstream that stops
 * sending mid-body must not hold a fill, or the clients waiting on it, forever.
 */
export function idleTimeout(source: ReadableStream<Uint8Array>, ms: number): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const stalled = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new StalledError(`no data for ${ms} ms`)), ms);
        });
        try {
          const { done, value } = await Promise.race([reader.read(), stalled]);
          if (done) controller.close();
          else controller.enqueue(value);
        } catch (error) {
          reader.cancel(error).catch(() => {});
          controller.error(error);
        } finally {
          clearTimeout(timer);
        }
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 },
  );
}

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
        const { done, value } = await byob.read(new Uint8Array(buffer, filled, length - filled));
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
