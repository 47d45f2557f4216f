import { z } from "zod";
import {
  compileIdentityGlob,
  type KeylessIdentity,
  type SigstoreTrust,
  sigstoreTrust,
  TrustedRootError,
} from "../signatures/keyless";
import { KeyFormatError, type PublicKey, parsePublicKey } from "../signatures/public-keys";
import { PUBLIC_GOOD_ROOT } from "../signatures/sigstore-public-good-root";
import type { Signers } from "../signatures/verdict";
import { compileGlob, isValidGlob } from "../util/glob";
import { ConfigError } from "./error";

/** One entry of `SIGNATURE_POLICY`: which repositories, how strictly, whose signatures. */
export interface SignaturePolicyEntry {
  /** Its position in `SIGNATURE_POLICY`, to name it in refusals and logs. */
  readonly index: number;
  /** The `<prefix>/<repository>` patterns as written. */
  readonly repositories: readonly string[];
  readonly patterns: readonly RegExp[];
  /** `enforce`: what is not verified is refused; `warn`: served, marked and logged. */
  readonly mode: "enforce" | "warn";
  readonly keys: readonly PublicKey[];
  /** Keyless signers (Fulcio issuer and subject globs). */
  readonly identities: readonly KeylessIdentity[];
  /** Keys, identities and the sigstore trust, as the verdict takes them. */
  readonly signers: Signers;
  /**
   * The entry's content in a canonical form: verdicts are cached under (its hash, digest), so changing
   * an entry's keys or repositories makes every verdict under it be made again.
   */
  readonly canonical: string;
}

/** The signature policy; the first entry whose patterns match a repository applies to it. */
export interface SignaturePolicy {
  readonly entries: readonly SignaturePolicyEntry[];
}

const identitySchema = z.strictObject({
  issuer: z.string().min(1).max(512),
  subject: z.string().min(1).max(1024),
});

const entrySchema = z.strictObject({
  repositories: z
    .array(z.string().refine(isValidGlob, "must be patterns like dockerhub/library/* (prefix first)"))
    .min(1, "must name at least one <prefix>/<repository> pattern"),
  mode: z.enum(["enforce", "warn"], { error: 'must be "enforce" or "warn"' }),
  keys: z.array(z.string()).default([]),
  identities: z.array(identitySchema).default([]),
});

const policySchema = z.array(entrySchema).max(100, "at most 100 entries");

/**
 * Reads `SIGNATURE_POLICY` (a JSON array, or the array itself from a TOML table); null when unset or
 * empty: then no request pays for signatures at all. Throws ConfigError naming the bad field.
 */
export function parseSignaturePolicy(
  value: unknown,
  prefixes: ReadonlySet<string>,
  trustedRoot: unknown = undefined,
): SignaturePolicy | null {
  const raw = readPolicy(value);
  if (raw === null) return null;
  const parsed = policySchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw fieldError(issue?.path ?? [], issue?.message ?? "invalid");
  }
  if (parsed.data.length === 0) return null;
  // Built once, and only when some entry accepts keyless signers.
  const keyless = parsed.data.some((entry) => entry.identities.length > 0);
  const root = keyless ? readTrustedRoot(trustedRoot) : null;
  const sigstore: SigstoreTrust | null = root?.trust ?? null;
  const entries = parsed.data.map((entry, index): SignaturePolicyEntry => {
    for (const [at, pattern] of entry.repositories.entries()) {
      const prefix = pattern.split("/")[0] ?? "";
      if (!prefix.includes("*") && !prefixes.has(prefix)) {
        throw fieldError(
          [index, "repositories", at],
          `"${prefix.slice(0, 64)}" is not a prefix in UPSTREAMS (patterns are <prefix>/<repository>)`,
        );
      }
    }
    if (entry.keys.length === 0 && entry.identities.length === 0) {
      throw fieldError(
        [index, "keys"],
        "must list at least one public key (or identities for keyless signers)",
      );
    }
    const identities = entry.identities.map((identity) => ({
      ...identity,
      issuerPattern: compileIdentityGlob(identity.issuer),
      subjectPattern: compileIdentityGlob(identity.subject),
    }));
    const keys = entry.keys.map((pem, at) => {
      try {
        return parsePublicKey(pem);
      } catch (error) {
        if (error instanceof KeyFormatError) throw fieldError([index, "keys", at], error.message);
        throw error;
      }
    });
    return {
      index,
      repositories: entry.repositories,
      patterns: entry.repositories.map(compileGlob),
      mode: entry.mode,
      keys,
      identities,
      signers: { keys, identities, sigstore: identities.length > 0 ? sigstore : null },
      canonical: JSON.stringify({
        repositories: entry.repositories,
        mode: entry.mode,
        keys: entry.keys.map((pem) => pem.replace(/\s+/g, "")),
        identities: entry.identities,
        // A new trusted root (a rotated or revoked CA or log) verifies keyless signatures again.
        root: identities.length > 0 ? root?.text : undefined,
      }),
    };
  });
  return { entries };
}

/** The entry that applies to `<prefix>/<name>`, or null when none does. */
export function policyEntryFor(
  policy: SignaturePolicy | null,
  prefix: string,
  name: string,
): SignaturePolicyEntry | null {
  if (!policy) return null;
  const repository = `${prefix}/${name}`;
  return policy.entries.find((entry) => entry.patterns.some((pattern) => pattern.test(repository))) ?? null;
}

/** How refusals and logs name an entry: `SIGNATURE_POLICY[0] (dockerhub/library/*)`. */
export function entryName(entry: SignaturePolicyEntry): string {
  return `SIGNATURE_POLICY[${entry.index}] (${entry.repositories.join(", ").slice(0, 200)})`;
}

/**
 * `SIGSTORE_TRUSTED_ROOT` (a `trusted_root.json`, as JSON text or object), or else the sigstore public-good
 * instance's root shipped with the mirror (`src/signatures/sigstore-public-good-root.json`).
 */
function readTrustedRoot(value: unknown): { trust: SigstoreTrust; text: string } {
  let root: unknown = PUBLIC_GOOD_ROOT;
  if (value !== undefined && value !== null && value !== "") {
    try {
      root = typeof value === "string" ? JSON.parse(value) : value;
    } catch {
      throw new ConfigError(
        "invalid configuration: SIGSTORE_TRUSTED_ROOT: not valid JSON (a sigstore trusted_root.json)",
      );
    }
  }
  try {
    return { trust: sigstoreTrust(root), text: JSON.stringify(root) };
  } catch (error) {
    if (error instanceof TrustedRootError) {
      throw new ConfigError(`invalid configuration: SIGSTORE_TRUSTED_ROOT: ${error.message}`);
    }
    throw error;
  }
}

function readPolicy(value: unknown): unknown {
  if (value === undefined || value === null || value === "") return null;
  if (typeof value !== "string") return value;
  try {
    return JSON.parse(value);
  } catch {
    throw new ConfigError(
      "invalid configuration: SIGNATURE_POLICY: not valid JSON (a JSON array of entries)",
    );
  }
}

function fieldError(path: readonly PropertyKey[], message: string): ConfigError {
  const field = path.map((part) => (typeof part === "number" ? `[${part}]` : `.${String(part)}`)).join("");
  return new ConfigError(`invalid configuration: SIGNATURE_POLICY${field}: ${message}`);
}
