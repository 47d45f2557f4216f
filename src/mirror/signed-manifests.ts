import { entryName, policyEntryFor, type SignaturePolicy, type SignaturePolicyEntry } from "../config";
import { type Digest, digestOf, parseDigest } from "../oci/digest";
import { RegistryError } from "../oci/errors";
import { imageBlobDigests, indexEntries } from "../oci/manifest";
import { digestReference, referenceString } from "../oci/reference";
import { judge, type Shortfall } from "../signatures/verdict";
import type { Approval, ApprovalStore } from "../storage/signature-approvals";
import type { RemoteRegistry } from "../upstream/remote-registry";
import type { ManifestRequest, ManifestResult, ManifestSource } from "./manifests";
import { findSignatures } from "./signature-lookup";
import type { Log } from "./types";

/** A pull the signature policy refused: told to the one hook (`services.ts`) for logs and events. */
export interface SignatureRefusal {
  readonly upstream: string;
  readonly repository: string;
  /** The tag or digest the client asked for. */
  readonly reference: string;
  /** The manifest or blob digest refused. */
  readonly digest: string;
  readonly kind: "manifest" | "blob";
  /** `SIGNATURE_POLICY[0] (dockerhub/library/*)`. */
  readonly policy: string;
  readonly shortfall: Shortfall | "not named by a verified manifest";
  /** The message the client got. */
  readonly message: string;
}

/** Refusals remembered per isolate: a signature pushed after its image is seen within a minute. */
export type RefusalMemory = Map<string, { readonly shortfall: Shortfall; readonly until: number }>;

const REFUSAL_MEMORY_MS = 60_000;
const REFUSAL_MEMORY_LIMIT = 5_000;

/** Cosign's own objects (`sha256-<hex>.sig`, `.att`, `.sbom`, the referrers tag): they are not images. */
const SIGNATURE_TAG = /^sha256-[a-f0-9]{64}(?:\.(?:sig|att|sbom))?$/;

const SHORTFALL_TEXT: Record<Shortfall, string> = {
  "no signature": "is not signed (no cosign signature or sigstore bundle found)",
  "wrong key": "is signed, but not with a key of the policy (wrong key)",
  "keyless signature":
    "has only keyless signatures that the policy does not accept or that do not verify against the sigstore trusted root",
  "wrong identity": "is signed keylessly, but not by an identity of the policy (wrong identity)",
  "signature names another digest": "has a valid signature whose payload names another digest",
};

export interface SignatureChecks {
  readonly approvals: ApprovalStore;
  readonly refusals: RefusalMemory;
  /** Verifications under way in this isolate, by entry version and digest. */
  readonly verifying: Map<string, Promise<Shortfall | null>>;
  readonly log: Log;
  /** Every refusal, once: the place where refusals become events. */
  readonly refused: (refusal: SignatureRefusal) => void;
  readonly now?: () => number;
}

/**
 * The signature policy as a step in front of the manifest source: a manifest of a repository under a
 * policy entry is served only once its digest is approved — its own signature verified with a key or
 * as a keyless identity of the entry, or an index it belongs to verified. `enforce` refuses the rest with 403 DENIED before any
 * byte is served; `warn` serves it marked `unverified` and logs it. Approvals are kept per digest and
 * entry version, so a warm pull verifies nothing and a changed entry verifies again. Repositories under
 * no entry go straight to the source.
 */
export class SignedManifests implements ManifestSource {
  constructor(
    private readonly source: ManifestSource,
    private readonly policy: SignaturePolicy,
    private readonly checks: SignatureChecks,
  ) {}

  async get(request: ManifestRequest): Promise<ManifestResult> {
    const prefix = request.client.upstream.prefix;
    const entry = policyEntryFor(this.policy, prefix, request.name);
    if (!entry || (request.reference.kind === "tag" && SIGNATURE_TAG.test(request.reference.tag))) {
      return this.source.get(request);
    }
    const result = await this.source.get(request);
    const version = await versionOf(entry);
    let shortfall: Shortfall | null;
    try {
      shortfall = await this.verdict(entry, version, request, result);
    } catch (error) {
      if (!(error instanceof RegistryError)) throw error;
      // The upstream could not show the signatures now: nothing is remembered, the next pull asks again.
      const reason = `the signatures of ${result.digest} could not be read from upstream "${prefix}" (${error.status} ${error.code})`;
      this.checks.log({
        event: "signature.unchecked",
        upstream: prefix,
        repository: request.name,
        digest: result.digest,
        policy: entryName(entry),
        reason,
      });
      if (entry.mode === "enforce")
        throw new RegistryError(503, "UNAVAILABLE", `${entryName(entry)}: ${reason}; try again`, {
          "Retry-After": "30",
        });
      return { ...result, signature: "unverified" };
    }
    if (shortfall === null) return { ...result, signature: "verified" };
    const message = `${entryName(entry)}: manifest ${result.digest} ${SHORTFALL_TEXT[shortfall]}`;
    const refusal: SignatureRefusal = {
      upstream: prefix,
      repository: request.name,
      reference: referenceString(request.reference),
      digest: result.digest,
      kind: "manifest",
      policy: entryName(entry),
      shortfall,
      message,
    };
    if (entry.mode === "enforce") {
      this.checks.refused(refusal);
      throw new RegistryError(403, "DENIED", message);
    }
    this.checks.log({ event: "signature.unverified", ...refusal });
    return { ...result, signature: "unverified" };
  }

  /**
   * Under an `enforce` entry, a blob is served only when a manifest verified under it names it, or
   * when it is stored already (served as without a policy, links and all). Anything else is refused
   * before the upstream is asked: an enforcing prefix does not fetch unsigned content by digest.
   */
  async admitBlob(
    client: RemoteRegistry,
    name: string,
    digest: Digest,
    stored: () => Promise<boolean>,
  ): Promise<void> {
    const entry = policyEntryFor(this.policy, client.upstream.prefix, name);
    if (entry?.mode !== "enforce") return;
    if (await this.checks.approvals.get(await versionOf(entry), digest.value)) return;
    if (await stored()) return;
    const message = `${entryName(entry)}: blob ${digest.value} is not named by a verified manifest`;
    this.checks.refused({
      upstream: client.upstream.prefix,
      repository: name,
      reference: digest.value,
      digest: digest.value,
      kind: "blob",
      policy: entryName(entry),
      shortfall: "not named by a verified manifest",
      message,
    });
    throw new RegistryError(403, "DENIED", message);
  }

  /** Null when the manifest is approved (verifying it now if need be); else what it lacks. */
  private async verdict(
    entry: SignaturePolicyEntry,
    version: string,
    request: ManifestRequest,
    result: ManifestResult,
  ): Promise<Shortfall | null> {
    const approvals = this.checks.approvals;
    const known = await approvals.get(version, result.digest);
    if (known?.complete) return null;
    if (known) {
      // A child of a verified index, served for the first time: what it names is approved now.
      const body = await this.bodyOf(request, result);
      await approvals.put(version, named(result.digest, body, known.how));
      return null;
    }
    // Signatures are looked up in the repository: a refusal holds for this repository only (another
    // one may hold the signature), while an approval holds for the digest everywhere under the entry.
    const refusalKey = `${version}/${request.client.upstream.prefix}/${request.name}/${result.digest}`;
    const remembered = this.checks.refusals.get(refusalKey);
    const now = (this.checks.now ?? Date.now)();
    if (remembered && remembered.until > now) return remembered.shortfall;

    // Concurrent pulls of one new image in this isolate share one verification.
    const running = this.checks.verifying.get(refusalKey);
    if (running) return running;
    const verification = this.verify(entry, version, request, result, refusalKey, now).finally(() =>
      this.checks.verifying.delete(refusalKey),
    );
    this.checks.verifying.set(refusalKey, verification);
    return verification;
  }

  /** Finds and judges the manifest's signatures; approves what it names when one verifies. */
  private async verify(
    entry: SignaturePolicyEntry,
    version: string,
    request: ManifestRequest,
    result: ManifestResult,
    refusalKey: string,
    now: number,
  ): Promise<Shortfall | null> {
    const approvals = this.checks.approvals;
    const body = await this.bodyOf(request, result);
    const digest = parseDigest(result.digest);
    // The legacy form first: its HEAD is free, and an image it verifies needs no referrers request.
    const found = await findSignatures(request.client, request.name, digest, "legacy");
    let verdict = await judge(result.digest, body, entry.signers, found.candidates);
    if (!verdict.verified) {
      const bundles = await findSignatures(request.client, request.name, digest, "bundle");
      found.candidates.push(...bundles.candidates);
      found.artifacts.push(...bundles.artifacts);
      verdict = await judge(result.digest, body, entry.signers, found.candidates);
    }
    if (!verdict.verified) {
      this.rememberRefusal(refusalKey, verdict.shortfall, now);
      return verdict.shortfall;
    }
    const how = `${verdict.form} signature, ${verdict.signer}`;
    const approved = named(result.digest, body, how);
    for (const artifact of found.artifacts) {
      approved.set(artifact, { how: `signature of ${result.digest}`, complete: true });
    }
    await approvals.put(version, approved);
    this.checks.log({
      event: "signature.verified",
      upstream: request.client.upstream.prefix,
      repository: request.name,
      digest: result.digest,
      policy: entryName(entry),
      how,
    });
    return null;
  }

  /** The manifest's bytes: from the result, or (for a HEAD) read by digest through the source. */
  private async bodyOf(request: ManifestRequest, result: ManifestResult): Promise<Uint8Array> {
    if (result.body) return new Uint8Array(result.body);
    const full = await this.source.get({
      ...request,
      reference: digestReference(parseDigest(result.digest)),
      method: "GET",
    });
    if (!full.body || (await digestOf(full.body)) !== result.digest) {
      throw new RegistryError(502, "UNAVAILABLE", "the manifest could not be read to check its signature");
    }
    return new Uint8Array(full.body);
  }

  private rememberRefusal(key: string, shortfall: Shortfall, now: number): void {
    const refusals = this.checks.refusals;
    if (refusals.size >= REFUSAL_MEMORY_LIMIT) {
      for (const [old, value] of refusals) if (value.until <= now) refusals.delete(old);
      if (refusals.size >= REFUSAL_MEMORY_LIMIT) refusals.clear();
    }
    refusals.set(key, { shortfall, until: now + REFUSAL_MEMORY_MS });
  }
}

/** The approvals a verified manifest brings: itself, and an index's children or an image's blobs. */
function named(digest: string, body: Uint8Array, how: string): Map<string, Approval> {
  const approvals = new Map<string, Approval>([[digest, { how, complete: true }]]);
  for (const child of indexEntries(body)) {
    approvals.set(child.digest, { how: `named by index ${digest}`, complete: false });
  }
  for (const blob of imageBlobDigests(body)) {
    approvals.set(blob, { how: `named by ${digest}`, complete: true });
  }
  return approvals;
}

const versions = new WeakMap<SignaturePolicyEntry, Promise<string>>();

/** An entry's version: a hash of its content (keys, repositories, mode). */
function versionOf(entry: SignaturePolicyEntry): Promise<string> {
  let version = versions.get(entry);
  if (!version) {
    version = digestOf(new TextEncoder().encode(entry.canonical)).then((digest) => digest.slice(7, 39));
    versions.set(entry, version);
  }
  return version;
}
