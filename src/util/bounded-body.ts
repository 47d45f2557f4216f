import { BodyTooLargeError, readLimited } from "./streams";

/**
 * Reads a request body as text, at most `limit` bytes: null when it is (or claims to be) larger. The
 * Content-Length is checked before anything is read, and the read stops (and cancels the stream) as
 * soon as the limit is passed, so an unauthenticated client cannot make the Worker buffer a big body.
 */
export async function readBoundedText(request: Request, limit: number): Promise<string | null> {
  const declared = request.headers.get("Content-Length");
  if (declared !== null && (!/^\d{1,16}$/.test(declared) || Number(declared) > limit)) return null;
  if (!request.body) return "";
  try {
    return new TextDecoder().decode(await readLimited(request.body, limit));
  } catch (error) {
    if (error instanceof BodyTooLargeError) return null;
    throw error;
  }
}
