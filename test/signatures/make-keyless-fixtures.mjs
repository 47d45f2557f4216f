// Makes keyless-fixtures.json: keyless (Fulcio certificate + Rekor entry) sigstore bundles made with
// @sigstore/mock's certificate authority, CT log and transparency log, the trusted roots that name
// them, and the small image they sign. Each bundle is checked with @sigstore/verify in Node first.
//   node test/signatures/make-keyless-fixtures.mjs > test/signatures/keyless-fixtures.json
import crypto from "node:crypto";
import { bundleFromJSON } from "@sigstore/bundle";
import { initializeCA, initializeCTLog, initializeTLog } from "@sigstore/mock";
import { TrustedRoot } from "@sigstore/protobuf-specs";
import { toSignedEntity, toTrustMaterial, Verifier } from "@sigstore/verify";

const ISSUER = "https://token.actions.githubusercontent.com";
const SUBJECT = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main";
const IN_TOTO = "application/vnd.in-toto+json";

const pair = () => crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });
const b64 = (bytes) => Buffer.from(bytes).toString("base64");
const sha256 = (bytes) => crypto.createHash("sha256").update(bytes).digest("hex");
const der = (key) => key.export({ type: "spki", format: "der" });
const pem = (cert) =>
  `-----BEGIN CERTIFICATE-----\n${b64(cert)
    .match(/.{1,64}/g)
    .join("\n")}\n-----END CERTIFICATE-----\n`;

/** A sigstore instance of its own: a CA with a CT log, a transparency log, and its trusted root. */
async function instance(name) {
  const caKey = pair();
  const ctKey = pair();
  const tlKey = pair();
  const ctlog = await initializeCTLog(ctKey);
  const ca = await initializeCA(caKey, ctlog);
  const tlog = await initializeTLog(`https://rekor.${name}.test`, tlKey);
  const start = new Date(Date.now() - 3600_000).toISOString();
  const root = {
    mediaType: "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
    tlogs: [
      {
        baseUrl: `https://rekor.${name}.test`,
        hashAlgorithm: "SHA2_256",
        publicKey: {
          rawBytes: b64(der(tlKey.publicKey)),
          keyDetails: "PKIX_ECDSA_P256_SHA_256",
          validFor: { start },
        },
        logId: { keyId: b64(crypto.createHash("sha256").update(der(tlKey.publicKey)).digest()) },
      },
    ],
    certificateAuthorities: [
      {
        subject: { organization: "sigstore.mock", commonName: "sigstore" },
        uri: `https://fulcio.${name}.test`,
        certChain: { certificates: [{ rawBytes: b64(Buffer.from(ca.rootCertificate.buffer)) }] },
        validFor: { start },
      },
    ],
    ctlogs: [
      {
        baseUrl: `https://ctfe.${name}.test`,
        hashAlgorithm: "SHA2_256",
        publicKey: {
          rawBytes: b64(der(ctKey.publicKey)),
          keyDetails: "PKIX_ECDSA_P256_SHA_256",
          validFor: { start },
        },
        logId: { keyId: b64(Buffer.from(ctlog.logID.buffer)) },
      },
    ],
    timestampAuthorities: [],
  };
  return { ca, tlog, root };
}

/** A Fulcio certificate for a fresh key, as for a CI workflow's OIDC token. */
async function signer(sigstore, subject = SUBJECT) {
  const key = pair();
  const cert = Buffer.from(
    (
      await sigstore.ca.issueCertificate({
        publicKey: der(key.publicKey),
        subjectAltName: subject,
        extensions: [
          { oid: "1.3.6.1.4.1.57264.1.1", value: ISSUER, legacy: true },
          { oid: "1.3.6.1.4.1.57264.1.8", value: ISSUER },
        ],
      })
    ).buffer,
  );
  return { key, cert };
}

/** The bundle's Rekor entry for `body`, with its SET and inclusion proof. */
async function tlogEntry(sigstore, body, kind) {
  const logged = Object.values(await sigstore.tlog.log(body))[0];
  const proof = logged.verification.inclusionProof;
  return {
    logIndex: String(logged.logIndex),
    logId: { keyId: b64(Buffer.from(logged.logID, "hex")) },
    kindVersion: { kind, version: "0.0.1" },
    integratedTime: String(logged.integratedTime),
    inclusionPromise: { signedEntryTimestamp: logged.verification.signedEntryTimestamp },
    inclusionProof: {
      logIndex: String(proof.logIndex),
      rootHash: b64(Buffer.from(proof.rootHash, "hex")),
      treeSize: String(proof.treeSize),
      hashes: [],
      checkpoint: { envelope: proof.checkpoint },
    },
    canonicalizedBody: logged.body,
  };
}

/** cosign v3's keyless form: a DSSE envelope with an in-toto statement naming `digest`. */
async function dsseBundle(sigstore, digest, subject = SUBJECT) {
  const { key, cert } = await signer(sigstore, subject);
  const statement = Buffer.from(
    JSON.stringify({
      _type: "https://in-toto.io/Statement/v1",
      subject: [{ name: "registry.test/app", digest: { sha256: digest.slice(7) } }],
      predicateType: "https://sigstore.dev/cosign/sign/v1",
      predicate: {},
    }),
  );
  const pae = Buffer.concat([
    Buffer.from(`DSSEv1 ${IN_TOTO.length} ${IN_TOTO} ${statement.length} `),
    statement,
  ]);
  const signature = crypto.sign("sha256", pae, key.privateKey);
  const envelope = {
    payload: b64(statement),
    payloadType: IN_TOTO,
    signatures: [{ sig: b64(signature), keyid: "" }],
  };
  const body = {
    apiVersion: "0.0.1",
    kind: "dsse",
    spec: {
      envelopeHash: { algorithm: "sha256", value: sha256(JSON.stringify(envelope)) },
      payloadHash: { algorithm: "sha256", value: sha256(statement) },
      signatures: [{ signature: b64(signature), verifier: b64(pem(cert)) }],
    },
  };
  return {
    mediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
    verificationMaterial: {
      certificate: { rawBytes: b64(cert) },
      tlogEntries: [await tlogEntry(sigstore, body, "dsse")],
    },
    dsseEnvelope: envelope,
  };
}

/** A keyless message signature over the manifest's bytes. */
async function messageBundle(sigstore, manifest) {
  const { key, cert } = await signer(sigstore);
  const signature = crypto.sign("sha256", manifest, key.privateKey);
  const body = {
    apiVersion: "0.0.1",
    kind: "hashedrekord",
    spec: {
      data: { hash: { algorithm: "sha256", value: sha256(manifest) } },
      signature: { content: b64(signature), publicKey: { content: b64(pem(cert)) } },
    },
  };
  return {
    mediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
    verificationMaterial: {
      certificate: { rawBytes: b64(cert) },
      tlogEntries: [await tlogEntry(sigstore, body, "hashedrekord")],
    },
    messageSignature: {
      messageDigest: {
        algorithm: "SHA2_256",
        digest: b64(crypto.createHash("sha256").update(manifest).digest()),
      },
      signature: b64(signature),
    },
  };
}

/**
 * cosign v2's keyless legacy form: a simple-signing payload naming `digest`, signed by a Fulcio key and
 * logged as a hashedrekord entry; returned both as the layer annotations cosign writes on the
 * `sha256-<hex>.sig` manifest and as the v0.1 bundle they stand for (checked below in Node).
 */
async function legacyKeyless(sigstore, digest) {
  const { key, cert } = await signer(sigstore);
  const payload = Buffer.from(
    JSON.stringify({
      critical: {
        identity: { "docker-reference": "registry.test/app" },
        image: { "docker-manifest-digest": digest },
        type: "cosign container image signature",
      },
      optional: null,
    }),
  );
  const signature = crypto.sign("sha256", payload, key.privateKey);
  const body = {
    apiVersion: "0.0.1",
    kind: "hashedrekord",
    spec: {
      data: { hash: { algorithm: "sha256", value: sha256(payload) } },
      signature: { content: b64(signature), publicKey: { content: b64(pem(cert)) } },
    },
  };
  const logged = Object.values(await sigstore.tlog.log(body))[0];
  const annotations = {
    "dev.cosignproject.cosign/signature": b64(signature),
    "dev.sigstore.cosign/certificate": pem(cert),
    "dev.sigstore.cosign/chain": pem(Buffer.from(sigstore.ca.rootCertificate.buffer)),
    "dev.sigstore.cosign/bundle": JSON.stringify({
      SignedEntryTimestamp: logged.verification.signedEntryTimestamp,
      Payload: {
        body: logged.body,
        integratedTime: logged.integratedTime,
        logIndex: logged.logIndex,
        logID: logged.logID,
      },
    }),
  };
  const bundle = {
    mediaType: "application/vnd.dev.sigstore.bundle+json;version=0.1",
    verificationMaterial: {
      x509CertificateChain: {
        certificates: [
          { rawBytes: b64(cert) },
          { rawBytes: b64(Buffer.from(sigstore.ca.rootCertificate.buffer)) },
        ],
      },
      tlogEntries: [
        {
          logIndex: String(logged.logIndex),
          logId: { keyId: b64(Buffer.from(logged.logID, "hex")) },
          kindVersion: { kind: "hashedrekord", version: "0.0.1" },
          integratedTime: String(logged.integratedTime),
          inclusionPromise: { signedEntryTimestamp: logged.verification.signedEntryTimestamp },
          canonicalizedBody: logged.body,
        },
      ],
    },
    messageSignature: {
      messageDigest: {
        algorithm: "SHA2_256",
        digest: b64(crypto.createHash("sha256").update(payload).digest()),
      },
      signature: b64(signature),
    },
  };
  return { payload: payload.toString(), annotations, bundle };
}

const config = JSON.stringify({
  architecture: "amd64",
  os: "linux",
  rootfs: { type: "layers", diff_ids: [] },
});
const layer = "keyless fixture layer";
const manifest = JSON.stringify({
  schemaVersion: 2,
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  config: {
    mediaType: "application/vnd.oci.image.config.v1+json",
    digest: `sha256:${sha256(config)}`,
    size: config.length,
  },
  layers: [
    {
      mediaType: "application/vnd.oci.image.layer.v1.tar",
      digest: `sha256:${sha256(layer)}`,
      size: layer.length,
    },
  ],
});
const digest = `sha256:${sha256(manifest)}`;
const other = `sha256:${"1".repeat(64)}`;

const trusted = await instance("trusted");
const stranger = await instance("stranger");
const bundles = {
  dsse: await dsseBundle(trusted, digest),
  message: await messageBundle(trusted, Buffer.from(manifest)),
  otherDigest: await dsseBundle(trusted, other),
  otherSubject: await dsseBundle(
    trusted,
    digest,
    "https://github.com/evil/app/.github/workflows/x.yml@refs/heads/main",
  ),
  untrusted: await dsseBundle(stranger, digest),
};
// A valid bundle whose statement was changed after signing.
const tampered = structuredClone(bundles.dsse);
tampered.dsseEnvelope.payload = b64(
  Buffer.from(
    Buffer.from(tampered.dsseEnvelope.payload, "base64").toString().replace(digest.slice(7), "2".repeat(64)),
  ),
);
bundles.tampered = tampered;
const legacy = {
  signed: await legacyKeyless(trusted, digest),
  otherDigest: await legacyKeyless(trusted, other),
};

// An independent check of what the specs rely on: @sigstore/verify in Node, against the trusted root.
const verifier = new Verifier(toTrustMaterial(TrustedRoot.fromJSON(trusted.root)), {
  tlogThreshold: 1,
  ctlogThreshold: 1,
});
for (const name of ["dsse", "otherDigest", "otherSubject"])
  verifier.verify(toSignedEntity(bundleFromJSON(bundles[name])));
verifier.verify(toSignedEntity(bundleFromJSON(bundles.message), Buffer.from(manifest)));
for (const { payload, bundle } of Object.values(legacy))
  verifier.verify(toSignedEntity(bundleFromJSON(bundle), Buffer.from(payload)));
for (const name of ["untrusted", "tampered"]) {
  let failed = false;
  try {
    verifier.verify(toSignedEntity(bundleFromJSON(bundles[name])));
  } catch {
    failed = true;
  }
  if (!failed) throw new Error(`${name} verified, but must not`);
}

process.stdout.write(
  `${JSON.stringify({ issuer: ISSUER, subject: SUBJECT, image: { config, layer, manifest, digest }, roots: { trusted: trusted.root, stranger: stranger.root }, bundles, legacy: Object.fromEntries(Object.entries(legacy).map(([name, { payload, annotations }]) => [name, { payload, annotations }])) }, null, 1)}\n`,
);
