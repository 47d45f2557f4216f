/** The registry API's paths: `/v2`, `/v2/…`, `/<prefix>/v2` and `/<prefix>/v2/…`. */
export function isRegistryPath(path: string): boolean {
  return /^\/([^/]+\/)?v2(\/|$)/.test(path);
}
