/**
 * The body of `length` bytes, told `hungUp` when its reader goes away before the last byte (the client
 * disconnected), and not when the source itself fails. Used for blob fills only: one read and one
 * enqueue of JavaScript per chunk, while the length stays declared (a FixedLengthStream at the end; a
 * stream from one cannot be piped natively into another).
 */
export function watchHangUp(
  body: ReadableStream<Uint8Array>,
  length: number,
  hungUp: () => void,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let sourceFailed = false;
  const relay = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (error) {
          sourceFailed = true;
          throw error;
        }
        if (chunk.done) controller.close();
        else controller.enqueue(chunk.value);
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
  const { readable, writable } = new FixedLengthStream(length);
  relay.pipeTo(writable).catch(() => {
    if (!sourceFailed) hungUp();
  });
  return readable;
}
