// An OIDC issuer look-alike on loopback, like the ones behind GitHub Actions, GitLab CI and a
// Kubernetes cluster: a discovery document, a JWKS with an RSA and an EC key, tokens signed with
// node:crypto (independent of the mirror's jose), key rotation, and a log of what it served.
import { generateKeyPairSync, type KeyObject, randomUUID, sign } from "node:crypto";
import { createServer, type Server } from "node:http";
import { HOST, listenLoopback } from "./net.ts";

export interface OidcKey {
  kid: string;
  alg: "RS256" | "ES256";
  privateKey: KeyObject;
  jwk: Record<string, unknown>;
}

export function makeOidcKey(kid: string, alg: "RS256" | "ES256"): OidcKey {
  const pair =
    alg === "RS256"
      ? generateKeyPairSync("rsa", { modulusLength: 2048 })
      : generateKeyPairSync("ec", { namedCurve: "P-256" });
  return {
    kid,
    alg,
    privateKey: pair.privateKey,
    jwk: { ...pair.publicKey.export({ format: "jwk" }), kid, alg, use: "sig" },
  };
}

const b64url = (data: string | Buffer): string => Buffer.from(data).toString("base64url");

export interface OidcIssuerLookalike {
  /** The issuer URL (`iss`), `http://127.0.0.1:PORT`. */
  url: string;
  rsa: OidcKey;
  ec: OidcKey;
  /** Keys in the JWKS now. */
  published: OidcKey[];
  /** Paths served, with when, in order. */
  served: Array<{ path: string; at: number }>;
  jwksFetches(): number;
  /** A token with the issuer's usual claims, `claims` on top, signed by `key` (RSA by default). */
  sign(claims: Record<string, unknown>, opts?: { key?: OidcKey; kid?: string; lifetime?: number }): string;
  close(): Promise<void>;
}

export async function startOidcIssuer(audience: string): Promise<OidcIssuerLookalike> {
  const rsa = makeOidcKey("rsa-1", "RS256");
  const ec = makeOidcKey("ec-1", "ES256");
  let url = "";
  const issuer: OidcIssuerLookalike = {
    url,
    rsa,
    ec,
    published: [rsa, ec],
    served: [],
    jwksFetches: () => issuer.served.filter((entry) => entry.path === "/keys").length,
    sign(claims, opts = {}) {
      const key = opts.key ?? rsa;
      const now = Math.floor(Date.now() / 1000);
      const payload: Record<string, unknown> = {
        iss: issuer.url,
        aud: audience,
        iat: now,
        nbf: now,
        exp: now + (opts.lifetime ?? 600),
        jti: randomUUID(),
        ...claims,
      };
      for (const [name, value] of Object.entries(payload)) if (value === undefined) delete payload[name];
      const header = { alg: key.alg, typ: "JWT", kid: opts.kid ?? key.kid };
      const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
      const signature = sign("sha256", Buffer.from(input), {
        key: key.privateKey,
        ...(key.alg === "ES256" ? { dsaEncoding: "ieee-p1363" as const } : {}),
      });
      return `${input}.${b64url(signature)}`;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    issuer.served.push({ path, at: Date.now() });
    const json = (body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(200, { "Content-Type": "application/json", ...headers });
      res.end(JSON.stringify(body));
    };
    if (path === "/.well-known/openid-configuration") {
      json({
        issuer: issuer.url,
        jwks_uri: `${issuer.url}/keys`,
        response_types_supported: ["id_token"],
        subject_types_supported: ["public"],
        id_token_signing_alg_values_supported: ["RS256", "ES256"],
      });
    } else if (path === "/keys") {
      json({ keys: issuer.published.map((key) => key.jwk) }, { "Cache-Control": "max-age=3600" });
    } else {
      res.writeHead(404).end();
    }
  });
  const port = await listenLoopback(server);
  url = `http://${HOST}:${port}`;
  issuer.url = url;
  return issuer;
}
