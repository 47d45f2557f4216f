/**
 * Reads a request body as text, at most `limit` bytes: null when it is (or claims to be) larger. The
 * Content-Length is checked before anything is read, and the read stops (and cancels the stream) as
 * soon as the limit is passed, so an unauthenticated client cannot make the Worker buffer a big body.
 */
export async function readBoundedText(request: Request, limit: number): Promise<string | null> {
  const declared = request.headers.get("Content-Length");
  if (declared !== null && (!/^\d{1,16}$/.test(declared) || Number(declared) > limit)) return null;
  if (!request.body) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let length = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    length += value.byteLength;
    if (length > limit) {
      await reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(bytes);
}
