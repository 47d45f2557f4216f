// Anonymous, Basic (htpasswd) and token upstreams all work with credentials from
// UPSTREAM_<PREFIX>_USERNAME / _PASSWORD; a private/ repository pulls only through the prefix that has
// credentials ("token"), not through "token-anon" (same upstream, no credentials), where it is
// refused as 403 DENIED (security issue, item 7).
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { USER } from "./harness/bed.ts";
import { skopeoCopy } from "./harness/clients.ts";
import { admin, bed } from "./harness/context.ts";
import { expectFullCopy, expectSingleCopy } from "./harness/expect-image.ts";
import { describeResponse, fetchManifest, pullThroughMirror } from "./harness/mirror-client.ts";
import { makeContainersEnv, type SkopeoEnv } from "./harness/skopeo-env.ts";

const b = bed();
const { basic, token, secret } = b.images;
let env: SkopeoEnv;

beforeAll(() => {
  env = makeContainersEnv(mkdtempSync(join(b.workDir, "auth-")));
});
beforeEach(async () => {
  await admin().reset();
});

describe("htpasswd (Basic) upstream", () => {
  it("pulls with the configured credentials, sent as Basic", async () => {
    expectSingleCopy(await pullThroughMirror(env, `basic/${basic.repo}:v1`), basic);
    const reqs = await admin().requests("basic");
    const served = reqs.filter((r) => r.status === 200);
    expect(served.length).toBeGreaterThan(0);
    expect(served.every((r) => r.authorization === "Basic")).toBe(true);
  });
});

describe("token upstream", () => {
  it("public repository through the prefix with credentials", async () => {
    expectFullCopy(await pullThroughMirror(env, `token/${token.repo}:v1`, { all: true }), token);
    const c = (await admin().counts()).token;
    expect(c?.token).toBeGreaterThan(0);
  });

  it("public repository through the prefix without credentials (anonymous token)", async () => {
    expectSingleCopy(await pullThroughMirror(env, `token-anon/${token.repo}:v1`), token);
  });

  it("private/ repository pulls through the prefix WITH credentials", async () => {
    expectFullCopy(await pullThroughMirror(env, `token/${secret.repo}:v1`, { all: true }), secret);
    // The registry saw tokens issued to the mirror's user (got with its Basic credentials, now or by an
    // earlier spec: tokens are cached), never an anonymous request that succeeded.
    const privateReqs = (await admin().requests("token")).filter(
      (r) => r.kind !== "token" && r.url.includes(`/${secret.repo}/`) && r.status < 300,
    );
    expect(privateReqs.length).toBeGreaterThan(0);
    for (const r of privateReqs) expect(r.authorizationWho ?? "").toContain(`sub=${USER.username}`);
  });

  it("private/ repository is refused through the prefix WITHOUT credentials (even though cached)", async () => {
    const path = `/v2/token-anon/${secret.repo}/manifests/v1`;
    const m = await fetchManifest(path);
    // Client authentication is off: 403 DENIED naming the upstream, never a 401 (a login loop) nor the
    // upstream's own challenge.
    expect(m.status, describeResponse(`GET ${path}`, m)).toBe(403);
    expect(m.headers.get("www-authenticate"), describeResponse(`GET ${path}`, m)).toBeNull();
    const error = (JSON.parse(m.body) as { errors: { code: string; message: string }[] }).errors[0];
    expect(error?.code).toBe("DENIED");
    expect(error?.message).toContain('upstream "token-anon"');
    const r = await skopeoCopy(env, {
      ref: `${b.mirrorHost}/token-anon/${secret.repo}:v1`,
      dest: `dir:${join(env.dir, "denied")}`,
    });
    expect(r.code).not.toBe(0);
    // What a user reads: a denied pull, not a request to log in.
    expect(r.stderr).toMatch(/denied/i);
    expect(r.stderr).not.toMatch(/unauthorized|authentication required/i);
  });
});
