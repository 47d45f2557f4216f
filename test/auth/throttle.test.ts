// Password guessing is throttled per client IP and per user name, before any hash is computed, on /v2/
// (Basic) and /token (GET with Basic, POST password grant); an unknown user costs what a wrong password costs.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from "vitest";
import { AUTH_FAILURE_LIMIT } from "../../src/auth/throttle";
import worker from "../../src/index";

// `printf %s hello | node scripts/hash-password.mjs` (100,000 iterations).
const HELLO = "pbkdf2-sha256$100000$W2ZGjRMx5NRg/vCkQAQYFw==$iuDpL70qG/Hup4rr++GMvoDtOM4IWqj+G+zBojZeErA=";

let test = 0;
let name = "";
let users: Record<string, unknown> = {};
let deriveBits: MockInstance<SubtleCrypto["deriveBits"]>;
beforeEach(() => {
  // Fresh names per test: failure counts outlive a test (they live as long as the isolate).
  name = `user${++test}`;
  users = { [name]: { hash: HELLO }, [`other${test}`]: "other-password" };
  deriveBits = vi.spyOn(crypto.subtle, "deriveBits");
  vi.spyOn(console, "log").mockImplementation(() => {});
});
afterEach(() => vi.restoreAllMocks());

/** A request to the Worker with client authentication on, RATE_LIMIT off and no shared limiter. */
async function request(
  path: string,
  ip: string,
  init: RequestInit = {},
  extra: Record<string, unknown> = {},
) {
  const ctx = createExecutionContext();
  const headers = new Headers(init.headers);
  headers.set("CF-Connecting-IP", ip);
  const response = await worker.fetch(
    new Request(`http://mirror.test${path}`, { ...init, headers }) as Request<
      unknown,
      IncomingRequestCfProperties
    >,
    { ...env, MIRROR_USERS: JSON.stringify(users), RATE_LIMIT: "off", AUTH_FAILURES: undefined, ...extra },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return response;
}

const basic = (user: string, password: string) => ({ Authorization: `Basic ${btoa(`${user}:${password}`)}` });

function passwordGrant(user: string, password: string): RequestInit {
  return {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "password", username: user, password, service: "mirror.test" }),
  };
}

async function expectThrottled(response: Response): Promise<void> {
  expect(response.status).toBe(429);
  const retryAfter = Number(response.headers.get("Retry-After"));
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(60);
  expect(await response.json()).toMatchObject({ errors: [{ code: "TOOMANYREQUESTS" }] });
}

describe("failed authentications are limited", () => {
  it("per client IP: after the limit even the right password gets 429, and no hash is computed", async () => {
    const ip = `192.0.2.${test}`;
    for (let attempt = 0; attempt < AUTH_FAILURE_LIMIT; attempt++) {
      expect((await request("/v2/", ip, { headers: basic(name, `guess-${attempt}`) })).status).toBe(401);
    }
    expect(deriveBits).toHaveBeenCalledTimes(AUTH_FAILURE_LIMIT);
    deriveBits.mockClear();
    await expectThrottled(await request("/v2/", ip, { headers: basic(name, "hello") }));
    // Another user from the same address is refused as well: the address is over its budget.
    await expectThrottled(await request("/v2/", ip, { headers: basic(`other${test}`, "other-password") }));
    expect(deriveBits).not.toHaveBeenCalled();
    // Another address is not affected.
    const elsewhere = await request("/v2/", `198.51.100.${test}`, {
      headers: basic(`other${test}`, "other-password"),
    });
    expect(elsewhere.status).toBe(200);
  });

  it("per user name, whatever the address: guesses spread over many IPs are refused before hashing", async () => {
    for (let attempt = 0; attempt < AUTH_FAILURE_LIMIT; attempt++) {
      const response = await request("/v2/", `203.0.113.${attempt}`, {
        headers: basic(name, `guess-${attempt}`),
      });
      expect(response.status).toBe(401);
    }
    deriveBits.mockClear();
    await expectThrottled(await request("/v2/", "203.0.113.200", { headers: basic(name, "hello") }));
    expect(deriveBits).not.toHaveBeenCalled();
  });

  it("counts /v2/ Basic, GET /token and containerd's POST /token password grant together", async () => {
    const ip = `192.0.2.${100 + test}`;
    for (let attempt = 0; attempt < AUTH_FAILURE_LIMIT; attempt++) {
      const response =
        attempt % 3 === 0
          ? await request("/v2/", ip, { headers: basic(name, "wrong") })
          : attempt % 3 === 1
            ? await request("/token?service=mirror.test", ip, { headers: basic(name, "wrong") })
            : await request("/token", ip, passwordGrant(name, "wrong"));
      expect(response.status).toBe(401);
    }
    await expectThrottled(await request("/token", ip, passwordGrant(name, "hello")));
    await expectThrottled(await request("/token?service=mirror.test", ip, { headers: basic(name, "hello") }));
  });

  it("does not count successful logins or anonymous requests", async () => {
    const ip = `192.0.2.${150 + test}`;
    for (let attempt = 0; attempt < AUTH_FAILURE_LIMIT + 2; attempt++) {
      expect((await request("/v2/", ip, { headers: basic(`other${test}`, "other-password") })).status).toBe(
        200,
      );
      expect((await request("/v2/", ip)).status).toBe(401);
    }
  });

  it("makes an unknown user cost the same hash as a wrong password", async () => {
    const ip = `192.0.2.${200 + test}`;
    expect((await request("/v2/", ip, { headers: basic(name, "wrong") })).status).toBe(401);
    expect(deriveBits).toHaveBeenCalledTimes(1);
    const iterationsOf = (call: number) =>
      (deriveBits.mock.calls[call]?.[0] as { iterations?: number } | undefined)?.iterations;
    const wrong = iterationsOf(0);
    expect(wrong).toBe(100_000);
    deriveBits.mockClear();
    expect((await request("/v2/", ip, { headers: basic("nobody-at-all", "wrong") })).status).toBe(401);
    expect(deriveBits).toHaveBeenCalledTimes(1);
    expect(iterationsOf(0)).toBe(wrong);
  });

  it("uses the shared Rate Limiting binding for failures only, with separate keys, and obeys it", async () => {
    const ip = `192.0.2.${220 + test}`;
    const limiter = { limit: vi.fn(async () => ({ success: false })) };
    const ok = await request(
      "/v2/",
      ip,
      { headers: basic(`other${test}`, "other-password") },
      { AUTH_FAILURES: limiter },
    );
    expect(ok.status).toBe(200);
    expect(limiter.limit).not.toHaveBeenCalled();
    // One failure: the shared limiter (other isolates' failures) says the budget is spent.
    const first = await request("/v2/", ip, { headers: basic(name, "wrong") }, { AUTH_FAILURES: limiter });
    expect(first.status).toBe(401);
    expect(limiter.limit).toHaveBeenCalledWith({ key: `authfail:ip:${ip}` });
    expect(limiter.limit).toHaveBeenCalledWith({ key: `authfail:user:${name}` });
    deriveBits.mockClear();
    await expectThrottled(
      await request("/v2/", ip, { headers: basic(name, "hello") }, { AUTH_FAILURES: limiter }),
    );
    expect(deriveBits).not.toHaveBeenCalled();
  });

  it("is on by default, whatever RATE_LIMIT says and without any Rate Limiting binding", async () => {
    const ip = `192.0.2.${240 + test}`;
    const onRequest = (password: string) =>
      request("/v2/", ip, { headers: basic(name, password) }, { RATE_LIMIT: "on", RATE_LIMITER: undefined });
    for (let attempt = 0; attempt < AUTH_FAILURE_LIMIT; attempt++)
      expect((await onRequest("x")).status).toBe(401);
    await expectThrottled(await onRequest("hello"));
  });
});
