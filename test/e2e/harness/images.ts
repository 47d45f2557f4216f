// Synthetic container images without Docker: deterministic pseudo-random tar+gzip layers, a config
// with rootfs.diff_ids, one manifest per platform and (for multi-arch) an index, in an OCI image
// layout. The same spec always yields the same digests, so built layouts are cached on disk between
// runs. The layout is always OCI: skopeo's `oci:` transport only finds OCI-typed manifests, so Docker
// media types are made by pushing with `--format v2s2` (see push.ts).
import { createCipheriv, createHash } from "node:crypto";
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";

export type Arch = "amd64" | "arm64";
export type Format = "oci" | "v2s2";

export interface ImageSpec {
  /** Repository in the upstream registry, e.g. "library/alpine". */
  repo: string;
  tag: string;
  /** Media types in the registry: OCI as built, or Docker schema 2 converted by skopeo at push. */
  format: Format;
  /** One platform → a plain manifest; several → an index / manifest list. */
  platforms: Arch[];
  /** Payload bytes of each layer (the layer is a tar holding one file of this many bytes). */
  layerSizes: number[];
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export interface BuiltLayer extends Descriptor {
  diffId: string;
}

export interface BuiltManifest extends Descriptor {
  arch: Arch;
  config: Descriptor;
  layers: BuiltLayer[];
}

export interface BuiltImage {
  spec: ImageSpec;
  /** The OCI layout directory; push with `oci:<layout>:<tag>`. */
  layout: string;
  /** What the tag points to: the index / list for multi-arch images, else the only manifest. */
  top: Descriptor;
  manifests: BuiltManifest[];
}

const MEDIA = {
  index: "application/vnd.oci.image.index.v1+json",
  manifest: "application/vnd.oci.image.manifest.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layer: "application/vnd.oci.image.layer.v1.tar+gzip",
} as const;

/** Bump when the generator changes so cached layouts are rebuilt. */
export const GENERATOR_VERSION = 1;
const MTIME = 1_700_000_000; // fixed timestamps keep layers deterministic
const CHUNK = 1 << 20;

const sha256 = (b: Buffer | string): string => `sha256:${createHash("sha256").update(b).digest("hex")}`;

function blobPath(layout: string, digest: string): string {
  return join(layout, "blobs", "sha256", digest.slice("sha256:".length));
}

function writeBlob(layout: string, data: Buffer | string): Descriptor & { data: Buffer } {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data);
  const digest = sha256(buf);
  writeFileSync(blobPath(layout, digest), buf);
  return { mediaType: "", digest, size: buf.length, data: buf };
}

/** One ustar header block. */
function tarHeader(name: string, size: number, type: "0" | "5"): Buffer {
  const h = Buffer.alloc(512);
  const put = (value: string, offset: number, len: number): void => {
    h.write(value.slice(0, len), offset, "ascii");
  };
  const octal = (n: number, len: number): string => `${n.toString(8).padStart(len - 1, "0")}\0`;
  put(name, 0, 100);
  put(octal(type === "5" ? 0o755 : 0o644, 8), 100, 8);
  put(octal(0, 8), 108, 8);
  put(octal(0, 8), 116, 8);
  put(octal(size, 12), 124, 12);
  put(octal(MTIME, 12), 136, 12);
  put("        ", 148, 8); // checksum is computed with this field as spaces
  put(type, 156, 1);
  put("ustar\0", 257, 6);
  put("00", 263, 2);
  put("root", 265, 32);
  put("root", 297, 32);
  let sum = 0;
  for (const b of h) sum += b;
  put(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8);
  return h;
}

/** The tar stream of one layer: a directory and a file of AES-CTR keystream (fast, incompressible). */
async function* layerTar(seed: string, size: number): AsyncGenerator<Buffer> {
  const key = createHash("sha256").update(seed).digest();
  const cipher = createCipheriv("aes-256-ctr", key, Buffer.alloc(16));
  const dir = `data-${createHash("sha256").update(seed).digest("hex").slice(0, 12)}/`;
  yield tarHeader(dir, 0, "5");
  yield tarHeader(`${dir}payload.bin`, size, "0");
  const zeros = Buffer.alloc(CHUNK);
  for (let left = size; left > 0; left -= CHUNK) {
    yield cipher.update(left >= CHUNK ? zeros : zeros.subarray(0, left));
  }
  const pad = (512 - (size % 512)) % 512;
  yield Buffer.alloc(pad + 1024); // padding + end-of-archive marker
}

function hashing(hash: ReturnType<typeof createHash>): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
  });
}

async function buildLayer(
  layout: string,
  seed: string,
  size: number,
  mediaType: string,
): Promise<BuiltLayer> {
  const tmp = join(layout, `layer-${process.pid}.tmp`);
  const diff = createHash("sha256");
  const compressed = createHash("sha256");
  let written = 0;
  // Big layers are random anyway: store them (gzip level 0) so building 100 MiB takes ~0.5 s.
  const gzip = createGzip({ level: size > 8 * CHUNK ? 0 : 6 });
  await pipeline(
    Readable.from(layerTar(seed, size)),
    hashing(diff),
    gzip,
    new Transform({
      transform(chunk: Buffer, _enc, cb) {
        compressed.update(chunk);
        written += chunk.length;
        cb(null, chunk);
      },
    }),
    createWriteStream(tmp),
  );
  const digest = `sha256:${compressed.digest("hex")}`;
  renameSync(tmp, blobPath(layout, digest));
  return { mediaType, digest, size: written, diffId: `sha256:${diff.digest("hex")}` };
}

function platformOf(arch: Arch): { architecture: Arch; os: "linux"; variant?: string } {
  return arch === "arm64"
    ? { architecture: arch, os: "linux", variant: "v8" }
    : { architecture: arch, os: "linux" };
}

async function buildManifest(layout: string, spec: ImageSpec, arch: Arch): Promise<BuiltManifest> {
  const media = MEDIA;
  const layers: BuiltLayer[] = [];
  for (const [i, size] of spec.layerSizes.entries()) {
    layers.push(await buildLayer(layout, `${spec.repo}:${spec.tag}/${arch}/${i}`, size, media.layer));
  }
  const config = writeBlob(
    layout,
    JSON.stringify({
      ...platformOf(arch),
      created: new Date(MTIME * 1000).toISOString(),
      config: {
        Env: ["PATH=/usr/bin:/bin"],
        Cmd: ["/bin/true"],
        Labels: { "e2e.image": `${spec.repo}:${spec.tag}` },
      },
      rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
      history: layers.map((_, i) => ({
        created: new Date(MTIME * 1000).toISOString(),
        created_by: `layer ${i}`,
      })),
    }),
  );
  const configDesc: Descriptor = { mediaType: media.config, digest: config.digest, size: config.size };
  const manifest = writeBlob(
    layout,
    JSON.stringify({
      schemaVersion: 2,
      mediaType: media.manifest,
      config: configDesc,
      layers: layers.map(({ mediaType, digest, size }) => ({ mediaType, digest, size })),
    }),
  );
  return {
    arch,
    mediaType: media.manifest,
    digest: manifest.digest,
    size: manifest.size,
    config: configDesc,
    layers,
  };
}

async function buildLayout(spec: ImageSpec, layout: string): Promise<BuiltImage> {
  mkdirSync(join(layout, "blobs", "sha256"), { recursive: true });
  writeFileSync(join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  const media = MEDIA;
  const manifests: BuiltManifest[] = [];
  for (const arch of spec.platforms) manifests.push(await buildManifest(layout, spec, arch));
  let top: Descriptor;
  const only = manifests[0];
  if (manifests.length === 1 && only) {
    top = { mediaType: only.mediaType, digest: only.digest, size: only.size };
  } else {
    const index = writeBlob(
      layout,
      JSON.stringify({
        schemaVersion: 2,
        mediaType: media.index,
        manifests: manifests.map((m) => ({
          mediaType: m.mediaType,
          digest: m.digest,
          size: m.size,
          platform: platformOf(m.arch),
        })),
      }),
    );
    top = { mediaType: media.index, digest: index.digest, size: index.size };
  }
  writeFileSync(
    join(layout, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ ...top, annotations: { "org.opencontainers.image.ref.name": spec.tag } }],
    }),
  );
  return { spec, layout, top, manifests };
}

function cacheKey(spec: ImageSpec): string {
  return createHash("sha256").update(JSON.stringify({ GENERATOR_VERSION, spec })).digest("hex").slice(0, 16);
}

/** Builds the layout under `cacheDir`, or returns the one built earlier from the same spec. */
export async function buildImage(spec: ImageSpec, cacheDir: string): Promise<BuiltImage> {
  const dir = join(cacheDir, `${spec.repo.replaceAll("/", "_")}-${spec.tag}-${cacheKey(spec)}`);
  const done = join(dir, "built.json");
  if (existsSync(done)) return JSON.parse(readFileSync(done, "utf8")) as BuiltImage;
  rmSync(dir, { recursive: true, force: true });
  const layout = join(dir, "layout");
  const built = await buildLayout(spec, layout);
  writeFileSync(done, JSON.stringify(built, null, 2));
  return built;
}

export function blobFile(img: Pick<BuiltImage, "layout">, digest: string): string {
  return blobPath(img.layout, digest);
}
