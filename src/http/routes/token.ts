import { Hono } from "hono";
import type { AuthThrottle } from "../../auth/throttle";
import type { Config } from "../../config";
import { RegistryError } from "../../oci/errors";
import { readBoundedText } from "../../util/bounded-body";
import { checkBasic, checkPassword, clientIp, issueToken, serviceOf, TOKEN_LIFETIME_SECONDS } from "../auth";
import type { AppEnv } from "../context";

/** A password grant form is a few hundred bytes; anything bigger is refused unread. */
export const MAX_TOKEN_FORM_BYTES = 8192;

/**
 * `GET /token` (Docker, skopeo, podman: Basic credentials) and `POST /token` (containerd: OAuth2
 * password grant form). Answers the registry token JSON; the token is short-lived and signed.
 */
export const tokenApi = new Hono<AppEnv>();

tokenApi.on(["GET", "POST"], "/token", (c) =>
  issue(c.req.raw, c.var.services.config, c.var.services.authThrottle),
);

async function issue(request: Request, config: Config, throttle: AuthThrottle): Promise<Response> {
  const users = config.users;
  if (!users) throw new RegistryError(404, "UNSUPPORTED", "client authentication is off: no token needed");
  const service = serviceOf(request);
  const ip = clientIp(request);
  let user = null;
  if (request.method === "POST") {
    const form = await readForm(request);
    if (form?.get("grant_type") === "password") {
      user = await checkPassword(users, form.get("username") ?? "", form.get("password") ?? "", throttle, ip);
    } else {
      throw new RegistryError(400, "UNSUPPORTED", "only grant_type=password is supported");
    }
  } else {
    const [scheme = "", value = ""] = (request.headers.get("Authorization") ?? "").split(" ", 2);
    if (scheme.toLowerCase() === "basic") user = await checkBasic(users, value, throttle, ip);
  }
  if (!user) {
    throw new RegistryError(401, "UNAUTHORIZED", "valid credentials required", {
      "WWW-Authenticate": `Basic realm="${service}"`,
    });
  }
  const token = await issueToken(user, config, service);
  return Response.json(
    { token, access_token: token, expires_in: TOKEN_LIFETIME_SECONDS, issued_at: new Date().toISOString() },
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
