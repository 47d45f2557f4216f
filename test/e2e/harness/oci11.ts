// An OCI 1.1 registry look-alike, as an intercept on a counting proxy in front of a distribution 2.8
// face (which has neither of these):
// - the referrers API, answered from the manifests with a `subject` that were pushed through this proxy
//   (with `artifactType` filtering and `OCI-Filters-Applied`);
// - tags/list with `n` and `last`: lexical order, at most n, a `Link` to the next page.
// Everything else passes through to the face.
import { createHash } from "node:crypto";
import { type IncomingMessage, request } from "node:http";
import { forwardHeaders, type Intercept } from "./counting-proxy.ts";

interface ReferrerDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

const MANIFEST = /^\/v2\/(.+)\/manifests\/([^/]+)$/;
const REFERRERS = /^\/v2\/(.+)\/referrers\/(sha256:[a-f0-9]{64})$/;
const TAGS = /^\/v2\/(.+)\/tags\/list$/;
const INDEX = "application/vnd.oci.image.index.v1+json";

export function oci11(): Intercept {
  // `<repository>@<subject digest>` → referrer digest → descriptor
  const referrers = new Map<string, Map<string, ReferrerDescriptor>>();

  return async (req, res, ctx) => {
    const url = new URL(req.url ?? "/", "http://face");
    const manifest = MANIFEST.exec(url.pathname);
    if (req.method === "PUT" && manifest?.[1]) {
      const body = await readAll(req);
      const answer = await forward(ctx.target, req, body);
      if (answer.status === 201) {
        const referrer = describeReferrer(body, req.headers["content-type"] ?? "");
        if (referrer) {
          const key = `${manifest[1]}@${referrer.subject}`;
          const known = referrers.get(key) ?? new Map<string, ReferrerDescriptor>();
          known.set(referrer.descriptor.digest, referrer.descriptor);
          referrers.set(key, known);
        }
      }
      res.writeHead(answer.status, answer.headers);
      res.end(answer.body);
      return true;
    }
    const referrersPath = REFERRERS.exec(url.pathname);
    if (req.method === "GET" && referrersPath?.[1] && referrersPath[2]) {
      const artifactType = url.searchParams.get("artifactType");
      const all = [...(referrers.get(`${referrersPath[1]}@${referrersPath[2]}`)?.values() ?? [])];
      const manifests = artifactType === null ? all : all.filter((d) => d.artifactType === artifactType);
      const headers: Record<string, string> = { "content-type": INDEX };
      if (artifactType !== null) headers["oci-filters-applied"] = "artifactType";
      res.writeHead(200, headers);
      res.end(JSON.stringify({ schemaVersion: 2, mediaType: INDEX, manifests }));
      return true;
    }
    const tags = TAGS.exec(url.pathname);
    if (req.method === "GET" && tags?.[1] && (url.searchParams.has("n") || url.searchParams.has("last"))) {
      const whole = await forward(ctx.target, req, Buffer.alloc(0), `/v2/${tags[1]}/tags/list`);
      if (whole.status !== 200) return false; // let the face answer with its own error
      const list = JSON.parse(whole.body.toString("utf8")) as { name: string; tags: string[] | null };
      const last = url.searchParams.get("last");
      const after = [...(list.tags ?? [])].sort().filter((tag) => last === null || tag > last);
      const n = url.searchParams.has("n") ? Number(url.searchParams.get("n")) : after.length;
      const page = after.slice(0, n);
      const headers: Record<string, string> = { "content-type": "application/json" };
      const lastTag = page.at(-1);
      if (lastTag !== undefined && page.length < after.length) {
        headers.link = `</v2/${tags[1]}/tags/list?${new URLSearchParams({ n: String(n), last: lastTag })}>; rel="next"`;
      }
      res.writeHead(200, headers);
      res.end(JSON.stringify({ name: list.name, tags: page }));
      return true;
    }
    return false;
  };
}

function describeReferrer(
  body: Buffer,
  contentType: string,
): { subject: string; descriptor: ReferrerDescriptor } | null {
  let parsed: {
    mediaType?: string;
    artifactType?: string;
    config?: { mediaType?: string };
    subject?: { digest?: string };
    annotations?: Record<string, string>;
  };
  try {
    parsed = JSON.parse(body.toString("utf8"));
  } catch {
    return null;
  }
  if (!parsed.subject?.digest) return null;
  return {
    subject: parsed.subject.digest,
    descriptor: {
      mediaType: parsed.mediaType ?? contentType.split(";")[0] ?? "",
      digest: `sha256:${createHash("sha256").update(body).digest("hex")}`,
      size: body.length,
      artifactType: parsed.artifactType ?? parsed.config?.mediaType,
      ...(parsed.annotations ? { annotations: parsed.annotations } : {}),
    },
  };
}

function readAll(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.once("end", () => resolve(Buffer.concat(chunks)));
    req.once("error", reject);
  });
}

/** Sends the client's request (method, headers, `body`) to the face and reads the whole answer. */
function forward(
  target: URL,
  req: IncomingMessage,
  body: Buffer,
  path = req.url ?? "/",
): Promise<{ status: number; headers: Record<string, string | string[]>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const headers = forwardHeaders(req.headers);
    headers["content-length"] = String(body.length);
    const up = request(
      { host: target.hostname, port: target.port, method: req.method, path, headers },
      (r) => {
        const chunks: Buffer[] = [];
        r.on("data", (chunk: Buffer) => chunks.push(chunk));
        r.once("end", () => {
          const out: Record<string, string | string[]> = {};
          for (const [k, v] of Object.entries(forwardHeaders(r.headers))) if (v !== undefined) out[k] = v;
          resolve({ status: r.statusCode ?? 502, headers: out, body: Buffer.concat(chunks) });
        });
        r.once("error", reject);
      },
    );
    up.setTimeout(30_000, () => up.destroy(new Error("face timeout")));
    up.once("error", reject);
    up.end(body);
  });
}
