/** Pulls an image through the mirror as a client does, for tests that look at what a pull costs. */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import worker from "../../src/index";
import { ACCEPT_ALL, storedBlob } from "./mirror";

/** One request through the Worker's entry, with variables overridden; resolves after its `waitUntil` work. */
export async function send(path: string, vars: Record<string, string> = {}, init: RequestInit = {}) {
  const ctx = createExecutionContext();
  const response = await worker.fetch(
    new Request(`http://mirror.test${path}`, init) as Request<unknown, IncomingRequestCfProperties>,
    { ...env, ...vars },
    ctx,
  );
  const body = new Uint8Array(await response.arrayBuffer());
  await waitOnExecutionContext(ctx);
  return { response, body };
}

export interface Pulled {
  readonly manifests: string[];
  readonly blobs: string[];
}

/** The tag's index, each platform's manifest, then every config and layer; waits until blobs are stored. */
export async function pullImage(
  base: string,
  tag: string,
  vars: Record<string, string> = {},
): Promise<Pulled> {
  const manifest = (reference: string) =>
    send(`${base}/manifests/${reference}`, vars, { headers: { Accept: ACCEPT_ALL } });
  const index = await manifest(tag);
  if (index.response.status !== 200) throw new Error(`index: ${index.response.status}`);
  const children = json<{ manifests: Array<{ digest: string }> }>(index.body).manifests.map((m) => m.digest);
  const blobs: string[] = [];
  for (const child of children) {
    const image = json<{ config: { digest: string }; layers: Array<{ digest: string }> }>(
      (await manifest(child)).body,
    );
    blobs.push(image.config.digest, ...image.layers.map((layer) => layer.digest));
  }
  for (const blob of blobs) {
    const { response } = await send(`${base}/blobs/${blob}`, vars);
    if (response.status !== 200) throw new Error(`blob ${blob}: ${response.status}`);
  }
  for (const blob of blobs) await storedBlob(blob);
  return { manifests: [index.response.headers.get("Docker-Content-Digest") ?? "", ...children], blobs };
}

function json<T>(body: Uint8Array): T {
  return JSON.parse(new TextDecoder().decode(body)) as T;
}
