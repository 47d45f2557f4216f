// The bad-input corpus (issue 4): malformed requests straight at the mirror, with node's http module
// so that the request target goes out exactly as written. Every answer must be a 4xx with an OCI JSON
// error body, never a 5xx, and not one of them may reach an upstream. (A malformed Range is no such
// request: RFC 9110 lets a server ignore it, and the mirror serves the whole blob.)
import { createHash } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { admin, bed } from "./harness/context.ts";
import type { LoggedRequest } from "./harness/counting.ts";
import { describeResponse, fetchBlob } from "./harness/mirror-client.ts";
import { type RawRequest, type RawResponse, rawRequest } from "./harness/raw-http.ts";

const b = bed();
const { badinput } = b.images;
const layer = badinput.manifests[0]?.layers[0];
if (!layer) throw new Error("badinput image has no layer");
const N = `/v2/anon/${badinput.repo}`;
const D = layer.digest;
const HEX = D.slice("sha256:".length);
const KB60 = "x".repeat(60 * 1024);

type Case = [label: string, req: Omit<RawRequest, "host">];
const get = (path: string, headers?: Record<string, string>): Omit<RawRequest, "host"> => ({ path, headers });
const method = (m: string, path: string): Omit<RawRequest, "host"> => ({ method: m, path });

const CORPUS: Case[] = [
  // Path traversal in names, plain and encoded.
  ["traversal ../ out of /v2", get("/v2/anon/../../../etc/passwd/manifests/v1")],
  ["traversal ..%2f in the name", get("/v2/anon/team/..%2f..%2f..%2fetc%2fpasswd/manifests/v1")],
  ["traversal %2e%2e segments", get("/v2/anon/%2e%2e/%2e%2e/etc/passwd/manifests/v1")],
  ["traversal %2e%2e%2f inside a component", get(`/v2/anon/team/%2e%2e%2fsecret/blobs/${D}`)],
  ["traversal ..%5c (backslash)", get("/v2/anon/team/..%5c..%5cwindows/manifests/v1")],
  ["traversal double-encoded %252e%252e", get("/v2/anon/team/%252e%252e/manifests/v1")],
  ["traversal in the tag", get(`${N}/manifests/..%2f..%2fetc%2fpasswd`)],
  ["traversal in the digest", get(`${N}/blobs/..%2f..%2f..%2fetc%2fpasswd`)],
  ["traversal after sha256:", get(`${N}/blobs/sha256:..%2f..%2f..%2fetc`)],
  // Names.
  ["upper-case name", get("/v2/anon/Team/BadInput/manifests/v1")],
  ["upper-case prefix in /v2/<prefix>", get(`/v2/ANON/${badinput.repo}/manifests/v1`)],
  ["upper-case /<prefix>/v2", get(`/ANON/v2/${badinput.repo}/manifests/v1`)],
  ["empty name component (//)", get(`/v2/anon/team//badinput/manifests/v1`)],
  ["name component ending in a separator", get("/v2/anon/team-/badinput/manifests/v1")],
  ["three underscores", get("/v2/anon/team___x/badinput/manifests/v1")],
  ["name of 256 characters", get(`/v2/anon/${"a".repeat(256)}/manifests/v1`)],
  ["name of 60 components (> 255 in all)", get(`/v2/anon/${Array(60).fill("abcd").join("/")}/manifests/v1`)],
  ["name of 10 000 characters", get(`/v2/anon/${"b".repeat(10_000)}/blobs/${D}`)],
  ["NUL in the name (%00)", get(`/v2/anon/team%00/badinput/manifests/v1`)],
  ["space in the name (%20)", get(`/v2/anon/team%20x/badinput/manifests/v1`)],
  // Tags.
  ["tag of 129 characters", get(`${N}/manifests/${"t".repeat(129)}`)],
  ["tag of 4096 characters", get(`${N}/manifests/${"t".repeat(4096)}`)],
  ["tag starting with '-'", get(`${N}/manifests/-v1`)],
  ["tag starting with '.'", get(`${N}/manifests/.v1`)],
  ["NUL in the tag", get(`${N}/manifests/v1%00`)],
  ["space in the tag", get(`${N}/manifests/v1%20x`)],
  ["empty reference", get(`${N}/manifests/`)],
  // Digests.
  ["short sha256 digest", get(`${N}/blobs/sha256:abc`)],
  ["upper-case hex", get(`${N}/blobs/sha256:${HEX.toUpperCase()}`)],
  ["65 hex digits", get(`${N}/blobs/sha256:${HEX}0`)],
  ["63 hex digits and a g", get(`${N}/blobs/sha256:${HEX.slice(0, 63)}g`)],
  ["unknown algorithm md5", get(`${N}/blobs/md5:${HEX.slice(0, 32)}`)],
  ["unknown algorithm sha1", get(`${N}/blobs/sha1:${HEX.slice(0, 40)}`)],
  ["sha512 of sha256 length", get(`${N}/blobs/sha512:${HEX}`)],
  ["no algorithm", get(`${N}/blobs/:${HEX}`)],
  ["no colon", get(`${N}/blobs/sha256${HEX}`)],
  ["NUL after the digest", get(`${N}/blobs/${D}%00`)],
  ["bad digest as a manifest reference", get(`${N}/manifests/sha256:abc`)],
  ["upper-case algorithm as a manifest reference", get(`${N}/manifests/SHA256:${HEX}`)],
  ["bad digest in referrers", get(`${N}/referrers/not-a-digest`)],
  // Range headers on a cached blob that lie outside it (a malformed Range is ignored: IGNORED_RANGES).
  ["Range past the end", get(`${N}/blobs/${D}`, { range: "bytes=999999999999-" })],
  ["Range suffix of zero bytes", get(`${N}/blobs/${D}`, { range: "bytes=-0" })],
  // Unknown prefixes and ns hosts.
  ["unknown /<prefix>/v2", get(`/nope/v2/${badinput.repo}/manifests/v1`)],
  ["unknown /<prefix>/v2/ ping", get("/nope/v2/")],
  ["unknown ?ns= host", get(`/v2/${badinput.repo}/manifests/v1?ns=evil.example.com`)],
  ["?ns= a loopback port", get(`/v2/${badinput.repo}/blobs/${D}?ns=127.0.0.1:1`)],
  [
    "?ns= a configured host with a NUL and more",
    get(`/v2/${badinput.repo}/manifests/v1?ns=anon.e2e%00.evil`),
  ],
  ["?ns= a configured host as a sub-domain", get(`/v2/${badinput.repo}/manifests/v1?ns=anon.e2e.evil.com`)],
  ["?ns= unknown with a known prefix", get(`${N}/manifests/v1?ns=localhost`)],
  // Other API misuse.
  ["tags/list n=abc", get(`${N}/tags/list?n=abc`)],
  ["tags/list n=-1", get(`${N}/tags/list?n=-1`)],
  ["tags/list n=99999999", get(`${N}/tags/list?n=99999999`)],
  ["tags/list last=NUL", get(`${N}/tags/list?last=%00`)],
  ["referrers artifactType=<script>", get(`${N}/referrers/${D}?artifactType=%3Cscript%3E`)],
  ["/v2/_catalog n=abc", get("/v2/_catalog?n=abc")],
  ["/v2/_catalog n=0", get("/v2/_catalog?n=0")],
  ["upload endpoint", get(`${N}/blobs/uploads/`)],
  ["not an API path", get("/etc/passwd")],
  // Methods of a read-write registry, and odd ones.
  ["PUT a manifest", method("PUT", `${N}/manifests/v1`)],
  ["POST an upload", method("POST", `${N}/blobs/uploads/`)],
  ["DELETE a manifest", method("DELETE", `${N}/manifests/v1`)],
  ["DELETE a cached blob", method("DELETE", `${N}/blobs/${D}`)],
  ["PATCH an upload", method("PATCH", `${N}/blobs/uploads/1`)],
  ["OPTIONS", method("OPTIONS", `${N}/manifests/v1`)],
  ["TRACE", method("TRACE", `${N}/manifests/v1`)],
  ["PUT a blob with a body", { method: "PUT", path: `${N}/blobs/${D}`, body: "not the blob" }],
  ["POST /token without users configured", method("POST", "/token")],
  // Huge headers on bad requests.
  ["a 60 KB header", get(`/v2/anon/Team/manifests/v1`, { "x-filler": KB60 })],
  ["a 60 KB Accept", get(`${N}/manifests/${"t".repeat(200)}`, { accept: KB60 })],
];

/** Range headers RFC 9110 §14.2 lets a server ignore: the whole blob is served, 200. */
const IGNORED_RANGES: Array<[label: string, range: string]> = [
  ["bytes=abc", "bytes=abc"],
  ["an end before its start", "bytes=5-1"],
  ["two ranges", "bytes=0-1,5-9"],
  ["bytes=-", "bytes=-"],
  ["bytes=--5", "bytes=--5"],
  ["bytes=0-0-0", "bytes=0-0-0"],
  ["a 60 KB number", `bytes=${"9".repeat(60 * 1024)}-`],
];

function isOciError(r: RawResponse): boolean {
  try {
    const body = JSON.parse(r.body.toString("utf8")) as { errors?: { code?: unknown }[] };
    return Array.isArray(body.errors) && typeof body.errors[0]?.code === "string";
  } catch {
    return false;
  }
}

function show(reqs: LoggedRequest[]): string {
  return reqs.map((r) => `${r.upstream} ${r.method} ${r.url} → ${r.status}`).join("\n");
}

describe(`bad-input corpus (${CORPUS.length} malformed requests)`, () => {
  beforeAll(async () => {
    // The Range cases need the blob cached (a Range on an uncached blob would go upstream).
    const warm = await fetchBlob(`${N}/blobs/${D}`);
    expect(warm.status, describeResponse("warming the blob", warm)).toBe(200);
    expect(warm.digest).toBe(D);
    await admin().reset();
  });

  it.each(CORPUS)("%s → 4xx with an OCI JSON error", async (_label, req) => {
    const r = await rawRequest({ host: b.mirrorHost, ...req });
    const what = `${req.method ?? "GET"} ${req.path.slice(0, 200)}`;
    expect(r.status, describeResponse(what, r)).toBeGreaterThanOrEqual(400);
    expect(r.status, describeResponse(what, r)).toBeLessThan(500);
    expect(isOciError(r), `${describeResponse(what, r)}\ncontent-type: ${r.headers["content-type"]}`).toBe(
      true,
    );
  });

  it.each(IGNORED_RANGES)("a Range of %s is ignored: 200 with the whole blob", async (_label, range) => {
    const r = await rawRequest({ host: b.mirrorHost, ...get(`${N}/blobs/${D}`, { range }) });
    expect(r.status, describeResponse(`GET ${N}/blobs/${D} Range: ${range.slice(0, 40)}`, r)).toBe(200);
    expect(r.headers["content-range"]).toBeUndefined();
    expect(`sha256:${createHash("sha256").update(r.body).digest("hex")}`).toBe(D);
  });

  it("not one of them reached an upstream (nor a token server or CDN)", async () => {
    const reqs = await admin().requests();
    expect(reqs, show(reqs)).toEqual([]);
  });
});
