import { digestInvalid } from "./errors";
import { truncate } from "./names";

/** Algorithms we can verify; the Web Crypto name and the hex length of each. */
const ALGORITHMS = {
  sha256: { webCrypto: "SHA-256", hexLength: 64 },
  sha512: { webCrypto: "SHA-512", hexLength: 128 },
} as const;

export type DigestAlgorithm = keyof typeof ALGORITHMS;

export interface Digest {
  readonly algorithm: DigestAlgorithm;
  readonly hex: string;
  /** `algorithm:hex`, the canonical string form. */
  readonly value: string;
}

/** Parses `algorithm:hex`; throws DIGEST_INVALID for anything we could not verify. */
export function parseDigest(input: string): Digest {
  const separator = input.indexOf(":");
  if (separator <= 0) throw digestInvalid(`invalid digest "${truncate(input)}"`);
  const algorithm = input.slice(0, separator);
  const hex = input.slice(separator + 1);
  if (!Object.hasOwn(ALGORITHMS, algorithm)) {
    throw digestInvalid(`unsupported digest algorithm "${truncate(algorithm)}"`);
  }
  const spec = ALGORITHMS[algorithm as DigestAlgorithm];
  if (hex.length !== spec.hexLength || !/^[a-f0-9]+$/.test(hex)) {
    throw digestInvalid(`invalid ${algorithm} digest "${truncate(input)}"`);
  }
  return { algorithm: algorithm as DigestAlgorithm, hex, value: input };
}

export function webCryptoName(algorithm: DigestAlgorithm): string {
  return ALGORITHMS[algorithm].webCrypto;
}

export async function digestOf(bytes: ArrayBuffer | Uint8Array, algorithm: DigestAlgorithm = "sha256") {
  const hash = await crypto.subtle.digest(webCryptoName(algorithm), bytes);
  return `${algorithm}:${toHex(hash)}`;
}

export function toHex(buffer: ArrayBuffer): string {
  return [...new Uint8Array(buffer)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

/**
 * Checks bytes against a digest as they stream past, without holding them: `update` each chunk in
 * order, then `matches` says whether they hash to the digest.
 */
export class DigestVerifier {
  private readonly hasher: DigestStream;
  private readonly writer: WritableStreamDefaultWriter<ArrayBuffer | ArrayBufferView>;

  constructor(private readonly digest: Digest) {
    this.hasher = new crypto.DigestStream(webCryptoName(digest.algorithm));
    this.writer = this.hasher.getWriter();
  }

  /** Hashes the chunk; the chunk stays the caller's (it is neither kept nor detached). */
  update(chunk: Uint8Array): Promise<void> {
    return this.writer.write(chunk);
  }

  async matches(): Promise<boolean> {
    await this.writer.close();
    return toHex(await this.hasher.digest) === this.digest.hex;
  }
}

/**
 * The body as it streams, checked against the digest and the length: its last chunk is held back until
 * the whole body hashes to the digest, so wrong or missing bytes end the stream with an error (a
 * truncated response the client notices), never cleanly.
 */
export function verifiedBody(
  body: ReadableStream<Uint8Array>,
  digest: Digest,
  size: number,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  const verifier = new DigestVerifier(digest);
  let length = 0;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const { done, value } = await reader.read();
        if (done) {
          // Only an empty blob ends here cleanly: a body that completes the blob is closed below.
          if (length === size && (await verifier.matches())) controller.close();
          else controller.error(new Error("upstream body ended before its Content-Length"));
          return;
        }
        length += value.byteLength;
        if (length > size) {
          await reader.cancel().catch(() => {});
          controller.error(new Error("upstream body is longer than its Content-Length"));
          return;
        }
        await verifier.update(value);
        if (length < size) {
          controller.enqueue(value);
          return;
        }
        // The chunk that completes the blob: passed on only if the whole body hashes to the digest.
        if (!(await verifier.matches())) {
          await reader.cancel().catch(() => {});
          controller.error(new Error("upstream bytes do not match the digest"));
          return;
        }
        controller.enqueue(value);
        controller.close();
        await reader.cancel().catch(() => {});
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 },
  );
}
