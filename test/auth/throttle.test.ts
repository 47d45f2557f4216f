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

const NO_EXTRA = {};
/** One environment per test and extra bindings, as one deployment has: its configuration is parsed once. */
const envs = new WeakMap<object, { users: object; env: object }>();
function envOf(extra: Record<string, unknown>) {
  const known = envs.get(extra);
  if (known?.users === users) return known.env;
  const made = {
    ...env,
    MIRROR_USERS: JSON.stringify(users),
    RATE_LIMIT: "off",
    AUTH_FAILURES: undefined,
    ...extra,
  };
  envs.set(extra, { users, env: made });
  return made;
}

/** A request to the Worker with client authentication on, RATE_LIMIT off and no shared limiter. */
async function request(
  path: string,
  ip: string,
  init: RequestInit = {},
  extra: Record<string, unknown> = NO_EXTRA,
) {
  const ctx = createExecutionContext();
  const headers = new Headers(init.headers);
  headers.set("CF-Connecting-IP", ip);
  const response = await worker.fetch(
    new Request(`http://mirror.test${path}`, { ...init, headers }) as Request<
      unknown,
      IncomingRequestCfProperties
    >,
    envOf(extra) as typeof env,
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

describe("parallel guesses are counted before they are checked", () => {
  it("of 30 parallel wrong passwords at most the limit are hashed; the rest get 429 with Retry-After", async () => {
    const ip = `192.0.2.${test}`;
    const responses = await Promise.all(
      Array.from({ length: 30 }, (_, guess) =>
        request("/v2/", ip, { headers: basic(name, `guess-${guess}`) }),
      ),
    );
    const statuses = responses.map((response) => response.status);
    expect(statuses.filter((status) => status === 401)).toHaveLength(AUTH_FAILURE_LIMIT);
    expect(statuses.filter((status) => status === 429)).toHaveLength(30 - AUTH_FAILURE_LIMIT);
    for (const response of responses.filter((response) => response.status === 429))
      await expectThrottled(response);
    expect(deriveBits).toHaveBeenCalledTimes(AUTH_FAILURE_LIMIT);
  });

  it("the same holds on POST /token, spread over many addresses (the name's count)", async () => {
    const responses = await Promise.all(
      Array.from({ length: 30 }, (_, guess) =>
        request("/token", `203.0.113.${guess}`, passwordGrant(name, `guess-${guess}`)),
      ),
    );
    expect(responses.filter((response) => response.status === 429)).toHaveLength(30 - AUTH_FAILURE_LIMIT);
    expect(deriveBits).toHaveBeenCalledTimes(AUTH_FAILURE_LIMIT);
  });

  it("30 parallel logins with the right password all pass and share one hash", async () => {
    const ip = `192.0.2.${50 + test}`;
    const responses = await Promise.all(
      Array.from({ length: 30 }, () => request("/v2/", ip, { headers: basic(name, "hello") })),
    );
    expect(responses.map((response) => response.status)).toEqual(new Array(30).fill(200));
    expect(deriveBits).toHaveBeenCalledTimes(1);
  });

  it("counts IPv6 clients per /64: other addresses of the same network share its limit", async () => {
    const network = `2001:db8:${test.toString(16)}:7`;
    for (let attempt = 0; attempt < AUTH_FAILURE_LIMIT; attempt++) {
      const response = await request("/v2/", `${network}::${(attempt + 1).toString(16)}`, {
        headers: basic(`other${test}`, "wrong"),
      });
      expect(response.status).toBe(401);
    }
    await expectThrottled(
      await request("/v2/", `${network}:ffff:1:2:3`, { headers: basic(`nobody${test}`, "x") }),
    );
    // The next /64 is another client.
    const next = await request("/v2/", `2001:db8:${test.toString(16)}:8::1`, {
      headers: basic(`nobody${test}`, "x"),
    });
    expect(next.status).toBe(401);
  });
});

describe("the admin token is throttled like a password", () => {
  const ADMIN = "the-admin-token-0123456789";
  const withAdmin = { ADMIN_TOKEN: ADMIN };
  const admin = (ip: string, token: string) =>
    request("/_/stats", ip, { headers: { Authorization: `Bearer ${token}` } }, withAdmin);

  it("of 30 parallel wrong tokens at most the limit are compared; then even the right one gets 429", async () => {
    const ip = `198.18.0.${test}`;
    const responses = await Promise.all(
      Array.from({ length: 30 }, (_, guess) => admin(ip, `guess-${guess}`)),
    );
    const statuses = responses.map((response) => response.status);
    expect(statuses.filter((status) => status === 401)).toHaveLength(AUTH_FAILURE_LIMIT);
    expect(statuses.filter((status) => status === 429)).toHaveLength(30 - AUTH_FAILURE_LIMIT);
    await expectThrottled(await admin(ip, ADMIN));
    expect((await admin(`198.18.1.${test}`, ADMIN)).status).not.toBe(429);
  });

  it("does not count the right token: an operator's dashboard may poll", async () => {
    const ip = `198.18.2.${test}`;
    for (let poll = 0; poll < AUTH_FAILURE_LIMIT * 2; poll++)
      expect((await admin(ip, ADMIN)).status).toBe(200);
  });
});

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

  it("asks the shared Rate Limiting binding before hashing, per address and name, and obeys it", async () => {
    const ip = `192.0.2.${220 + test}`;
    // Other isolates' attempts have spent the budget: refused before any hash.
    const limiter = { limit: vi.fn(async () => ({ success: false })) };
    await expectThrottled(
      await request("/v2/", ip, { headers: basic(name, "hello") }, { AUTH_FAILURES: limiter }),
    );
    expect(limiter.limit).toHaveBeenCalledWith({ key: `authfail:ip:${ip}` });
    expect(limiter.limit).toHaveBeenCalledWith({ key: `authfail:user:${name}` });
    expect(deriveBits).not.toHaveBeenCalled();
    // And this isolate keeps refusing the address for the window, without asking again.
    limiter.limit.mockClear();
    await expectThrottled(
      await request(
        "/v2/",
        ip,
        { headers: basic(`other${test}`, "other-password") },
        { AUTH_FAILURES: limiter },
      ),
    );
    expect(limiter.limit).not.toHaveBeenCalled();
  });

  it("checks a right password once: later logins with it cost no hash and no shared count", async () => {
    const ip = `192.0.2.${230 + test}`;
    const limiter = { limit: vi.fn(async () => ({ success: true })) };
    const shared = { AUTH_FAILURES: limiter };
    for (let login = 0; login < AUTH_FAILURE_LIMIT * 3; login++) {
      const response = await request("/v2/", ip, { headers: basic(name, "hello") }, shared);
      expect(response.status).toBe(200);
    }
    expect(deriveBits).toHaveBeenCalledTimes(1);
    expect(limiter.limit).toHaveBeenCalledTimes(2);
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
