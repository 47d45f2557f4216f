/**
 * An OIDC issuer look-alike inside the test: a discovery document and a JWKS (RSA and EC keys), served
 * to whatever fetches them (a Fetcher, or the mirror through interceptFetch), and tokens it signs.
 * It counts what it serves and can rotate keys, fail, or answer slowly.
 */
import { exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from "jose";

export interface IssuerKey {
  readonly kid: string;
  readonly alg: "RS256" | "ES256";
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK & { kid: string; alg: string; use: string };
}

export async function makeKey(kid: string, alg: "RS256" | "ES256"): Promise<IssuerKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: "sig" };
  return { kid, alg, privateKey, publicJwk };
}

export class FakeIssuer {
  /** Keys published in the JWKS. */
  published: IssuerKey[];
  /** Requests served, by path. */
  readonly served: string[] = [];
  /** Answer every request with this status instead (500: the issuer is down). */
  failWith: number | null = null;
  /** `Cache-Control` of the JWKS response. */
  jwksCacheControl = "max-age=300";
  /** Replace the JWKS body (e.g. a huge one). */
  jwksBody: string | null = null;
  /** What the discovery document says; defaults to the issuer and its JWKS. */
  discovery: Record<string, unknown>;

  constructor(
    readonly origin: string,
    readonly keys: { rsa: IssuerKey; ec: IssuerKey },
  ) {
    this.published = [keys.rsa, keys.ec];
    this.discovery = {
      issuer: origin,
      jwks_uri: `${origin}/keys`,
      id_token_signing_alg_values_supported: ["RS256", "ES256"],
    };
  }

  static async start(origin: string): Promise<FakeIssuer> {
    return new FakeIssuer(origin, {
      rsa: await makeKey("rsa-1", "RS256"),
      ec: await makeKey("ec-1", "ES256"),
    });
  }

  get jwksFetches(): number {
    return this.served.filter((path) => path === "/keys").length;
  }

  owns(url: URL): boolean {
    return url.origin === this.origin;
  }

  /** As a Fetcher (`IssuerKeys` takes one). */
  readonly fetch = (url: string, init: RequestInit = {}): Promise<Response> =>
    this.handle(new Request(url, init));

  async handle(request: Request): Promise<Response> {
    const path = new URL(request.url).pathname;
    this.served.push(path);
    if (this.failWith !== null) return new Response("down", { status: this.failWith });
    if (path === "/.well-known/openid-configuration") return Response.json(this.discovery);
    if (path === "/keys") {
      const body = this.jwksBody ?? JSON.stringify({ keys: this.published.map((key) => key.publicJwk) });
      return new Response(body, {
        headers: { "Content-Type": "application/json", "Cache-Control": this.jwksCacheControl },
      });
    }
    return new Response("not found", { status: 404 });
  }

  /** A token signed by `key` (RSA by default) with the usual claims, overridden by `claims`. */
  async sign(
    claims: JWTPayload & Record<string, unknown>,
    options: { key?: IssuerKey; kid?: string; lifetime?: number; now?: number } = {},
  ): Promise<string> {
    const key = options.key ?? this.keys.rsa;
    const now = Math.floor((options.now ?? Date.now()) / 1000);
    const payload: JWTPayload = {
      iss: this.origin,
      aud: "https://mirror.test",
      sub: "repo:acme/app:ref:refs/heads/main",
      iat: now,
      nbf: now,
      exp: now + (options.lifetime ?? 600),
      ...claims,
    };
    for (const [name, value] of Object.entries(payload)) if (value === undefined) delete payload[name];
    return new SignJWT(payload)
      .setProtectedHeader({ alg: key.alg, kid: options.kid ?? key.kid, typ: "JWT" })
      .sign(key.privateKey);
  }
}

const b64url = (text: string | Uint8Array): string => {
  const bytes = typeof text === "string" ? new TextEncoder().encode(text) : text;
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
};

/** An unsigned token (`alg: none`), as an attacker writes one. */
export function unsignedToken(payload: Record<string, unknown>): string {
  return `${b64url(JSON.stringify({ alg: "none", typ: "JWT" }))}.${b64url(JSON.stringify(payload))}.`;
}

/**
 * The classic key-confusion forgery: HS256 with the issuer's RSA PUBLIC key (as published) as the HMAC
 * secret. A verifier that lets the token pick the algorithm would accept it.
 */
export async function hs256WithPublicKey(
  issuer: FakeIssuer,
  payload: Record<string, unknown>,
): Promise<string> {
  const header = { alg: "HS256", typ: "JWT", kid: issuer.keys.rsa.kid };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  const secret = new TextEncoder().encode(JSON.stringify(issuer.keys.rsa.publicJwk));
  const key = await crypto.subtle.importKey("raw", secret, { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  const signature = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(input)));
  return `${input}.${b64url(signature)}`;
}
