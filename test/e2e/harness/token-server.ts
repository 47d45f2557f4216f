// A Docker-style token server (the "Bearer dance" endpoint) for distribution's `auth: token`.
// Anonymous callers get pull on public repositories; anything under `private/` needs Basic
// credentials. Tokens are ES256 JWTs with an `x5c` header that chains to the certificate that the
// registries load as `rootcertbundle`.
import { randomUUID, sign, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { join } from "node:path";
import { authorizationFields, type RequestCounter } from "./counting.ts";
import { HOST, listenLoopback } from "./net.ts";
import { runOk } from "./processes.ts";

export interface SigningKey {
  keyPem: string;
  certPem: string;
  certFile: string;
  /** base64 DER of the certificate, for the JWT `x5c` header. */
  certDerB64: string;
}

/** Makes a P-256 key and self-signed certificate with openssl (Node cannot issue certificates). */
export async function makeSigningKey(dir: string): Promise<SigningKey> {
  const keyFile = join(dir, "token-key.pem");
  const certFile = join(dir, "token-cert.pem");
  await runOk("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    keyFile,
    "-out",
    certFile,
    "-days",
    "2",
    "-subj",
    "/CN=e2e-token-issuer",
  ]);
  const certPem = readFileSync(certFile, "utf8");
  return {
    keyPem: readFileSync(keyFile, "utf8"),
    certPem,
    certFile,
    certDerB64: new X509Certificate(certPem).raw.toString("base64"),
  };
}

export const ISSUER = "e2e-token-issuer";

export interface Access {
  type: string;
  name: string;
  actions: string[];
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString("base64url");

export function signToken(
  key: SigningKey,
  claims: { sub: string; aud: string; access: Access[] },
  ttl: number,
) {
  const now = Math.floor(Date.now() / 1000);
  const header = { alg: "ES256", typ: "JWT", x5c: [key.certDerB64] };
  const payload = {
    iss: ISSUER,
    sub: claims.sub,
    aud: claims.aud, // distribution 2.8 wants a string here, not an array
    exp: now + ttl,
    nbf: now - 5,
    iat: now,
    jti: randomUUID(),
    access: claims.access,
  };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  const sig = sign("sha256", Buffer.from(input), { key: key.keyPem, dsaEncoding: "ieee-p1363" });
  return `${input}.${b64url(sig)}`;
}

/** `repository:name:pull,push` → Access; names may not contain ':' but a registry host:port might. */
export function parseScope(scope: string): Access | undefined {
  const first = scope.indexOf(":");
  const last = scope.lastIndexOf(":");
  if (first < 0 || last <= first) return undefined;
  return {
    type: scope.slice(0, first),
    name: scope.slice(first + 1, last),
    actions: scope
      .slice(last + 1)
      .split(",")
      .filter(Boolean),
  };
}

export interface TokenServerOptions {
  key: SigningKey;
  counter: RequestCounter;
  /** user → password accepted as Basic credentials (or OAuth2 password grant). */
  users: Record<string, string>;
  /** Repositories whose names start with this need credentials. */
  privatePrefix: string;
  expiresIn?: number;
}

export interface TokenServer {
  server: Server;
  port: number;
  /** Realm URL for one face; the last path segment names the face in the request counts. */
  realm(face: string): string;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => {
      body += c;
      if (body.length > 64 * 1024) req.destroy(new Error("token request body too large"));
    });
    req.on("end", () => resolve(body));
    req.on("error", reject);
  });
}

function basicUser(header: string | undefined): { user: string; pass: string } | undefined {
  if (!header?.startsWith("Basic ")) return undefined;
  const raw = Buffer.from(header.slice(6), "base64").toString("utf8");
  const i = raw.indexOf(":");
  return i < 0 ? undefined : { user: raw.slice(0, i), pass: raw.slice(i + 1) };
}

export async function startTokenServer(opts: TokenServerOptions): Promise<TokenServer> {
  const expiresIn = opts.expiresIn ?? 300;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<number> => {
    const url = new URL(req.url ?? "/", `http://${HOST}`);
    if (!url.pathname.startsWith("/token")) return reply(res, 404, { error: "not found" });
    let service = url.searchParams.get("service") ?? "";
    let scopes = url.searchParams.getAll("scope").flatMap((s) => s.split(" "));
    let creds = basicUser(req.headers.authorization);
    if (req.method === "POST") {
      // OAuth2 password grant (containerd tries this first when it has credentials).
      const form = new URLSearchParams(await readBody(req));
      service = form.get("service") ?? service;
      scopes = (form.get("scope") ?? "").split(" ").filter(Boolean);
      if (form.get("grant_type") === "password") {
        creds = { user: form.get("username") ?? "", pass: form.get("password") ?? "" };
      } else {
        return reply(res, 400, { error: "unsupported_grant_type" });
      }
    } else if (req.method !== "GET") {
      return reply(res, 405, { error: "method not allowed" });
    }
    let subject = "";
    if (creds) {
      if (opts.users[creds.user] !== creds.pass) {
        res.setHeader("WWW-Authenticate", 'Basic realm="token"');
        return reply(res, 401, { errors: [{ code: "UNAUTHORIZED", message: "bad credentials" }] });
      }
      subject = creds.user;
    }
    const access: Access[] = [];
    for (const s of scopes) {
      const a = parseScope(s);
      if (a?.type !== "repository") continue;
      const allowed = a.name.startsWith(opts.privatePrefix) && !subject ? [] : ["pull"];
      // Like Docker Hub: an unauthorised scope yields a token without that access, not an error.
      access.push({ ...a, actions: a.actions.filter((x) => allowed.includes(x)) });
    }
    const token = signToken(opts.key, { sub: subject, aud: service, access }, expiresIn);
    return reply(res, 200, {
      token,
      access_token: token,
      expires_in: expiresIn,
      issued_at: new Date().toISOString(),
    });
  };

  const server = createServer((req, res) => {
    const face = (req.url ?? "").split("?")[0]?.split("/")[2] ?? "token";
    handle(req, res)
      .then((status) =>
        opts.counter.record({
          upstream: face,
          kind: "token",
          method: req.method ?? "",
          url: req.url ?? "",
          status,
          authorization: req.headers.authorization?.split(" ")[0] ?? null,
          ...authorizationFields(req.headers.authorization),
          range: null,
        }),
      )
      .catch((err: unknown) => {
        if (!res.headersSent) reply(res, 500, { error: String(err) });
        else res.destroy();
      });
  });
  const port = await listenLoopback(server);
  return {
    server,
    port,
    realm: (face) => `http://${HOST}:${port}/token/${face}`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

function reply(res: ServerResponse, status: number, body: unknown): number {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
  return status;
}
