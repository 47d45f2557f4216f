/** A response's declared length, or undefined when it has none or an unusable one. */
export function contentLength(response: Response): number | undefined {
  const value = response.headers.get("Content-Length");
  return value !== null && /^\d{1,16}$/.test(value) ? Number(value) : undefined;
}
