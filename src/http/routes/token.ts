import { Hono } from "hono";
import { RegistryError } from "../../oci/errors";
import { readBoundedText } from "../../util/bounded-body";
import {
  type AuthServices,
  checkBasic,
  checkLogin,
  clientIp,
  type Identity,
  issueToken,
  serviceOf,
} from "../auth";
import type { AppEnv } from "../context";

/** A password grant form is a few hundred bytes; anything bigger is refused unread. */
export const MAX_TOKEN_FORM_BYTES = 8192;

/**
 * `GET /token` (Docker, skopeo, podman: Basic credentials) and `POST /token` (containerd: OAuth2
 * password grant form), with a user's password or, as user `oidc`, a platform token. Answers the
 * registry token JSON; the token is short-lived and signed.
 */
export const tokenApi = new Hono<AppEnv>();

tokenApi.on(["GET", "POST"], "/token", (c) => issue(c.req.raw, c.var.services));

async function issue(request: Request, services: AuthServices): Promise<Response> {
  const { config } = services;
  if (!config.clientAuth) {
    throw new RegistryError(404, "UNSUPPORTED", "client authentication is off: no token needed");
  }
  const service = serviceOf(request);
  const ip = clientIp(request);
  let identity: Identity | null = null;
  if (request.method === "POST") {
    const form = await readForm(request);
    if (form?.get("grant_type") === "password") {
      identity = await checkLogin(services, form.get("username") ?? "", form.get("password") ?? "", ip);
    } else {
      throw new RegistryError(400, "UNSUPPORTED", "only grant_type=password is supported");
    }
  } else {
    const [scheme = "", value = ""] = (request.headers.get("Authorization") ?? "").split(" ", 2);
    if (scheme.toLowerCase() === "basic") identity = await checkBasic(services, value, ip);
  }
  if (!identity) {
    throw new RegistryError(401, "UNAUTHORIZED", "valid credentials required", {
      "WWW-Authenticate": `Basic realm="${service}"`,
    });
  }
  const { token, expiresIn } = await issueToken(identity, config, service);
  return Response.json(
    { token, access_token: token, expires_in: expiresIn, issued_at: new Date().toISOString() },
    { headers: { "Cache-Control": "no-store" } },
  );
}

async function readForm(request: Request): Promise<URLSearchParams | null> {
  if (!(request.headers.get("Content-Type") ?? "").includes("application/x-www-form-urlencoded")) {
    await request.body?.cancel().catch(() => {});
    return null;
  }
  const text = await readBoundedText(request, MAX_TOKEN_FORM_BYTES);
  if (text === null) {
    throw new RegistryError(
      413,
      "SIZE_INVALID",
      `the token request form is larger than ${MAX_TOKEN_FORM_BYTES} bytes`,
    );
  }
  return new URLSearchParams(text);
}
