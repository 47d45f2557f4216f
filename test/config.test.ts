import { describe, expect, it } from "vitest";
import {
  type ConfigEnv,
  ConfigError,
  configFor,
  credentialVariables,
  DEFAULT_MAX_STALE,
  DEFAULT_TAG_TTL,
  DEFAULT_TIMEOUT,
  parseConfig,
} from "../src/config";

const QUAY = { url: "https://quay.io" };

function configError(env: ConfigEnv): ConfigError {
  try {
    parseConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("parseConfig accepted the configuration");
}

describe("parseConfig reads UPSTREAMS", () => {
  it("accepts a JSON string, as a Worker variable holds it", () => {
    const config = parseConfig({ UPSTREAMS: JSON.stringify({ quay: QUAY }) });
    expect(config.upstreams.get("quay")?.url).toBe("https://quay.io");
  });

  it("accepts an object, as a JSON variable in wrangler.toml arrives", () => {
    const config = parseConfig({ UPSTREAMS: { quay: QUAY } });
    expect(config.upstreams.get("quay")?.url).toBe("https://quay.io");
  });

  it("fills in the defaults: no library/, no hosts, a 300 s tag TTL, a week of staleness, 20 s timeout", () => {
    const quay = parseConfig({ UPSTREAMS: { quay: QUAY } }).upstreams.get("quay");
    expect(quay).toEqual({
      prefix: "quay",
      url: "https://quay.io",
      library: false,
      hosts: [],
      tagTtl: 300,
      maxStale: 7 * 24 * 3600,
      timeout: 20,
      allow: [],
      deny: [],
      authHosts: [],
      accounts: [],
      quotaReserve: 10,
    });
    expect([DEFAULT_TAG_TTL, DEFAULT_MAX_STALE, DEFAULT_TIMEOUT]).toEqual([300, 604800, 20]);
  });

  it("keeps the given settings", () => {
    const hub = parseConfig({
      UPSTREAMS: {
        hub: {
          url: "https://registry-1.docker.io",
          library: true,
          hosts: ["docker.io"],
          tagTtl: 60,
          maxStale: 0,
          timeout: 2.5,
        },
      },
    }).upstreams.get("hub");
    expect(hub).toMatchObject({ library: true, hosts: ["docker.io"], tagTtl: 60, maxStale: 0, timeout: 2.5 });
  });

  it("allows a tag TTL of 0: always revalidate", () => {
    expect(parseConfig({ UPSTREAMS: { quay: { ...QUAY, tagTtl: 0 } } }).upstreams.get("quay")?.tagTtl).toBe(
      0,
    );
  });

  it("drops trailing slashes from the url and keeps a base path", () => {
    const config = parseConfig({
      UPSTREAMS: { a: { url: "https://a.test/" }, b: { url: "https://b.test/mirror/path//" } },
    });
    expect(config.upstreams.get("a")?.url).toBe("https://a.test");
    expect(config.upstreams.get("b")?.url).toBe("https://b.test/mirror/path");
  });

  it("accepts http as well as https", () => {
    expect(
      parseConfig({ UPSTREAMS: { local: { url: "http://localhost:5000" } } }).upstreams.has("local"),
    ).toBe(true);
  });

  it("maps each host, lower-cased, to its upstream", () => {
    const config = parseConfig({
      UPSTREAMS: { hub: { url: "https://hub.test", hosts: ["Docker.IO", "registry:5000"] }, quay: QUAY },
    });
    expect(config.byHost.get("docker.io")?.prefix).toBe("hub");
    expect(config.byHost.get("registry:5000")?.prefix).toBe("hub");
    expect(config.byHost.size).toBe(2);
  });

  it("accepts prefixes of lower-case letters, digits, - and _", () => {
    const config = parseConfig({ UPSTREAMS: { "my-reg_2": QUAY, "0": QUAY } });
    expect([...config.upstreams.keys()].sort()).toEqual(["0", "my-reg_2"]);
  });

  it("reads authHosts, lower-cased", () => {
    const hub = parseConfig({
      UPSTREAMS: { hub: { url: "https://registry-1.docker.io", authHosts: ["Auth.Docker.IO"] } },
    }).upstreams.get("hub");
    expect(hub?.authHosts).toEqual(["auth.docker.io"]);
  });

  it("has no default upstream unless DEFAULT_UPSTREAM names one", () => {
    expect(parseConfig({ UPSTREAMS: { quay: QUAY } }).defaultUpstream).toBeUndefined();
    expect(parseConfig({ UPSTREAMS: { quay: QUAY }, DEFAULT_UPSTREAM: "" }).defaultUpstream).toBeUndefined();
    expect(
      parseConfig({ UPSTREAMS: { quay: QUAY }, DEFAULT_UPSTREAM: " quay " }).defaultUpstream?.prefix,
    ).toBe("quay");
  });
});

describe("parseConfig refuses a bad configuration with a ConfigError naming the field", () => {
  it.each<[string, ConfigEnv, string]>([
    ["a missing UPSTREAMS", {}, "UPSTREAMS"],
    ["an empty UPSTREAMS", { UPSTREAMS: "" }, "UPSTREAMS"],
    ["UPSTREAMS that is not JSON", { UPSTREAMS: "{quay: 1" }, "UPSTREAMS"],
    ["UPSTREAMS that is an array", { UPSTREAMS: "[]" }, "UPSTREAMS"],
    ["UPSTREAMS that is JSON null", { UPSTREAMS: "null" }, "UPSTREAMS"],
    ["a url that is not a URL", { UPSTREAMS: { quay: { url: "quay.io" } } }, "UPSTREAMS.quay.url"],
    ["a url that is not http(s)", { UPSTREAMS: { quay: { url: "ftp://quay.io" } } }, "UPSTREAMS.quay.url"],
    ["a file: url", { UPSTREAMS: { quay: { url: "file:///etc" } } }, "UPSTREAMS.quay.url"],
    ["a url with a query", { UPSTREAMS: { quay: { url: "https://quay.io/?a=b" } } }, "UPSTREAMS.quay.url"],
    ["a missing url", { UPSTREAMS: { quay: {} } }, "UPSTREAMS.quay.url"],
    ["a negative tagTtl", { UPSTREAMS: { quay: { ...QUAY, tagTtl: -1 } } }, "UPSTREAMS.quay.tagTtl"],
    ["a fractional tagTtl", { UPSTREAMS: { quay: { ...QUAY, tagTtl: 1.5 } } }, "UPSTREAMS.quay.tagTtl"],
    ["a tagTtl string", { UPSTREAMS: { quay: { ...QUAY, tagTtl: "300" } } }, "UPSTREAMS.quay.tagTtl"],
    ["a negative maxStale", { UPSTREAMS: { quay: { ...QUAY, maxStale: -1 } } }, "UPSTREAMS.quay.maxStale"],
    ["a zero timeout", { UPSTREAMS: { quay: { ...QUAY, timeout: 0 } } }, "UPSTREAMS.quay.timeout"],
    ["a timeout over 300 s", { UPSTREAMS: { quay: { ...QUAY, timeout: 301 } } }, "UPSTREAMS.quay.timeout"],
    ["a library string", { UPSTREAMS: { quay: { ...QUAY, library: "yes" } } }, "UPSTREAMS.quay.library"],
    [
      "a bad host",
      { UPSTREAMS: { quay: { ...QUAY, hosts: ["https://quay.io"] } } },
      "UPSTREAMS.quay.hosts.0",
    ],
    [
      "an authHosts entry that is a URL",
      { UPSTREAMS: { quay: { ...QUAY, authHosts: ["https://auth.quay.io"] } } },
      "UPSTREAMS.quay.authHosts.0",
    ],
    [
      "an authHosts entry with a port",
      { UPSTREAMS: { quay: { ...QUAY, authHosts: ["auth.quay.io:443"] } } },
      "UPSTREAMS.quay.authHosts.0",
    ],
    [
      "an authHosts string",
      { UPSTREAMS: { quay: { ...QUAY, authHosts: "auth.quay.io" } } },
      "UPSTREAMS.quay.authHosts",
    ],
    ["an unknown field", { UPSTREAMS: { quay: { ...QUAY, tagTTL: 5 } } }, "UPSTREAMS.quay"],
    ["an upper-case prefix", { UPSTREAMS: { Quay: QUAY } }, "UPSTREAMS"],
    ["a prefix with a slash", { UPSTREAMS: { "a/b": QUAY } }, "UPSTREAMS"],
    ["a prefix starting with -", { UPSTREAMS: { "-a": QUAY } }, "UPSTREAMS"],
    ["the reserved prefix v2", { UPSTREAMS: { v2: QUAY } }, "UPSTREAMS.v2"],
    ["the reserved prefix _", { UPSTREAMS: { _: QUAY } }, "UPSTREAMS"],
    [
      "a host claimed by two upstreams",
      {
        UPSTREAMS: {
          a: { url: "https://a.test", hosts: ["r.io"] },
          b: { url: "https://b.test", hosts: ["R.io"] },
        },
      },
      "UPSTREAMS.b.hosts",
    ],
    [
      "an unknown DEFAULT_UPSTREAM",
      { UPSTREAMS: { quay: QUAY }, DEFAULT_UPSTREAM: "hub" },
      "DEFAULT_UPSTREAM",
    ],
  ])("%s", (_case, env, field) => {
    const error = configError(env);
    expect(error.name).toBe("ConfigError");
    expect(error.message).toContain(field);
  });

  it("says why a prefix is reserved", () => {
    expect(configError({ UPSTREAMS: { v2: QUAY } }).message).toContain("reserved");
  });

  it("explains what a prefix may contain when one is bad", () => {
    const error = configError({ UPSTREAMS: { Quay: QUAY } });
    expect(error.message).toContain("UPSTREAMS.Quay");
    expect(error.message).toContain("prefix must be lower-case letters, digits, '-' or '_'");
  });

  it("names the other upstream that already has a host", () => {
    const error = configError({
      UPSTREAMS: {
        a: { url: "https://a.test", hosts: ["r.io"] },
        b: { url: "https://b.test", hosts: ["r.io"] },
      },
    });
    expect(error.message).toContain('"r.io"');
    expect(error.message).toContain('"a"');
  });
});

describe("upstream credentials come from UPSTREAM_<PREFIX>_USERNAME and _PASSWORD", () => {
  it("upper-cases the prefix and turns other characters into _", () => {
    expect(credentialVariables("quay")).toEqual({
      username: "UPSTREAM_QUAY_USERNAME",
      password: "UPSTREAM_QUAY_PASSWORD",
      pool: "UPSTREAM_QUAY_CREDENTIALS",
    });
    expect(credentialVariables("my-reg")).toEqual({
      username: "UPSTREAM_MY_REG_USERNAME",
      password: "UPSTREAM_MY_REG_PASSWORD",
      pool: "UPSTREAM_MY_REG_CREDENTIALS",
    });
    expect(credentialVariables("a_b-2").username).toBe("UPSTREAM_A_B_2_USERNAME");
  });

  it("reads both variables into the upstream's credentials", () => {
    const config = parseConfig({
      UPSTREAMS: { "my-reg": { ...QUAY, shareCredentials: true } },
      UPSTREAM_MY_REG_USERNAME: "robot",
      UPSTREAM_MY_REG_PASSWORD: "hunter2",
    });
    expect(config.upstreams.get("my-reg")?.accounts).toEqual([{ username: "robot", password: "hunter2" }]);
  });

  it("gives each upstream only its own credentials", () => {
    const config = parseConfig({
      UPSTREAMS: { quay: { ...QUAY, shareCredentials: true }, hub: { url: "https://hub.test" } },
      UPSTREAM_QUAY_USERNAME: "robot",
      UPSTREAM_QUAY_PASSWORD: "hunter2",
    });
    expect(config.upstreams.get("hub")?.accounts).toEqual([]);
  });

  it("treats empty variables as unset", () => {
    const config = parseConfig({
      UPSTREAMS: { quay: QUAY },
      UPSTREAM_QUAY_USERNAME: "",
      UPSTREAM_QUAY_PASSWORD: "",
    });
    expect(config.upstreams.get("quay")?.accounts).toEqual([]);
  });

  it("refuses a password without a username, naming the missing variable but not the password", () => {
    const error = configError({ UPSTREAMS: { "my-reg": QUAY }, UPSTREAM_MY_REG_PASSWORD: "s3cret-value" });
    expect(error.message).toContain("UPSTREAM_MY_REG_USERNAME");
    expect(error.message).not.toContain("s3cret-value");
  });

  it("refuses a username without a password, naming the missing variable but not the username", () => {
    const error = configError({ UPSTREAMS: { quay: QUAY }, UPSTREAM_QUAY_USERNAME: "robot-account-name" });
    expect(error.message).toContain("UPSTREAM_QUAY_PASSWORD");
    expect(error.message).not.toContain("robot-account-name");
  });

  it("refuses a username with an empty password", () => {
    const error = configError({
      UPSTREAMS: { quay: QUAY },
      UPSTREAM_QUAY_USERNAME: "robot",
      UPSTREAM_QUAY_PASSWORD: "",
    });
    expect(error.message).toContain("UPSTREAM_QUAY_PASSWORD");
  });
});

describe("a pool of accounts in UPSTREAM_<PREFIX>_CREDENTIALS", () => {
  const HUB = { url: "https://hub.test", shareCredentials: true };
  const pool = JSON.stringify([
    { username: "one", password: "pw-one-s3cret" },
    { username: "two", password: "pw-two-s3cret" },
  ]);

  it("reads the accounts, after the single pair when both are set", () => {
    expect(
      parseConfig({ UPSTREAMS: { hub: HUB }, UPSTREAM_HUB_CREDENTIALS: pool }).upstreams.get("hub")?.accounts,
    ).toEqual([
      { username: "one", password: "pw-one-s3cret" },
      { username: "two", password: "pw-two-s3cret" },
    ]);
    const both = parseConfig({
      UPSTREAMS: { hub: HUB },
      UPSTREAM_HUB_USERNAME: "zero",
      UPSTREAM_HUB_PASSWORD: "pw-zero",
      UPSTREAM_HUB_CREDENTIALS: pool,
    });
    expect(both.upstreams.get("hub")?.accounts.map((account) => account.username)).toEqual([
      "zero",
      "one",
      "two",
    ]);
  });

  it("counts as credentials that need protecting", () => {
    expect(() =>
      parseConfig({ UPSTREAMS: { hub: { url: "https://hub.test" } }, UPSTREAM_HUB_CREDENTIALS: pool }),
    ).toThrow(/nothing protects them/);
  });

  it.each([
    ["not JSON", "[{username: one}", /UPSTREAM_HUB_CREDENTIALS: not valid JSON/],
    [
      "not an array",
      '{"username":"one","password":"pw-one-s3cret"}',
      /UPSTREAM_HUB_CREDENTIALS: must be a JSON array/,
    ],
    ["an empty array", "[]", /UPSTREAM_HUB_CREDENTIALS: must be a JSON array/],
    [
      "an entry that is no object",
      '["one:pw-one-s3cret"]',
      /UPSTREAM_HUB_CREDENTIALS\[0\]: must be a JSON array/,
    ],
    ["an empty password", '[{"username":"one","password":""}]', /\[0\]: password must be a non-empty string/],
    ["a missing username", '[{"password":"pw-one-s3cret"}]', /\[0\]: username must be a non-empty string/],
    [
      "another field",
      '[{"username":"one","password":"pw-one-s3cret","pw-two-s3cret":1}]',
      /\[0\]: only "username" and "password"/,
    ],
    [
      "a username twice",
      '[{"username":"one","password":"pw-one-s3cret"},{"username":"one","password":"pw-two-s3cret"}]',
      /\[1\]: the same username as UPSTREAM_HUB_CREDENTIALS\[0\]/,
    ],
  ])("refuses %s with a clear error that names no secret", (_case, value, message) => {
    const error = configError({ UPSTREAMS: { hub: HUB }, UPSTREAM_HUB_CREDENTIALS: value });
    expect(error.message).toMatch(message);
    expect(error.message).not.toContain("pw-one-s3cret");
    expect(error.message).not.toContain("pw-two-s3cret");
  });

  it("refuses an account of the pool that repeats the single pair", () => {
    const error = configError({
      UPSTREAMS: { hub: HUB },
      UPSTREAM_HUB_USERNAME: "one",
      UPSTREAM_HUB_PASSWORD: "pw-zero",
      UPSTREAM_HUB_CREDENTIALS: pool,
    });
    expect(error.message).toContain(
      "UPSTREAM_HUB_CREDENTIALS[0]: the same username as UPSTREAM_HUB_USERNAME",
    );
  });

  it("takes quotaReserve in percent, 10 by default", () => {
    expect(
      parseConfig({ UPSTREAMS: { hub: { url: "https://hub.test", quotaReserve: 25 } } }).upstreams.get("hub")
        ?.quotaReserve,
    ).toBe(25);
    expect(() => parseConfig({ UPSTREAMS: { hub: { url: "https://hub.test", quotaReserve: 150 } } })).toThrow(
      /UPSTREAMS\.hub\.quotaReserve/,
    );
  });
});

describe("configFor", () => {
  it("parses an environment once and hands out the same Config after", () => {
    const env: ConfigEnv = { UPSTREAMS: { quay: QUAY } };
    expect(configFor(env)).toBe(configFor(env));
    expect(configFor({ UPSTREAMS: { quay: QUAY } })).not.toBe(configFor(env));
  });

  it("throws the ConfigError of a bad environment", () => {
    expect(() => configFor({})).toThrow(ConfigError);
  });
});

describe("configuration mistakes that would be silent otherwise", () => {
  it("refuses credentials written into an upstream URL", () => {
    expect(() => parseConfig({ UPSTREAMS: { q: { url: "https://u:p@q.io" } } })).toThrow(
      /UPSTREAMS\.q\.url: must not carry credentials/,
    );
  });

  it("refuses two prefixes whose credentials would come from the same variables", () => {
    expect(() =>
      parseConfig({ UPSTREAMS: { "my-reg": { url: "https://a.io" }, my_reg: { url: "https://b.io" } } }),
    ).toThrow(/UPSTREAM_MY_REG_USERNAME/);
  });

  it("accepts a host listed twice within one upstream", () => {
    expect(
      parseConfig({ UPSTREAMS: { q: { url: "https://q.io", hosts: ["a.io", "a.io"] } } }).byHost.get("a.io")
        ?.prefix,
    ).toBe("q");
  });
});

describe("upstream credentials are protected", () => {
  const credentials = { UPSTREAM_QUAY_USERNAME: "robot", UPSTREAM_QUAY_PASSWORD: "hunter2" };

  it("refuses to start when an upstream holds credentials and nothing protects them", () => {
    const error = configError({ UPSTREAMS: { quay: QUAY }, ...credentials });
    expect(error.message).toContain("UPSTREAMS.quay");
    expect(error.message).toContain("MIRROR_USERS");
    expect(error.message).not.toContain("hunter2");
  });

  it.each([
    ["client authentication", { UPSTREAMS: { quay: QUAY }, MIRROR_USERS: '{"ci":"pw"}' }],
    ["an allow-list", { UPSTREAMS: { quay: { ...QUAY, allow: ["org/*"] } } }],
    ["shareCredentials", { UPSTREAMS: { quay: { ...QUAY, shareCredentials: true } } }],
  ])("starts when %s protects them", (_case, env) => {
    expect(parseConfig({ ...env, ...credentials }).upstreams.get("quay")?.accounts[0]?.username).toBe(
      "robot",
    );
  });
});

describe("OIDC_ISSUERS beside the rest of the configuration", () => {
  const ISSUERS = JSON.stringify({
    github: {
      issuer: "https://token.actions.githubusercontent.com",
      audience: "https://mirror.example.com",
      rules: [{ claims: { repository_owner: "acme" }, allow: ["quay/acme/*"] }],
    },
  });
  const KEY = "k".repeat(32);

  it("switches client authentication on by itself", () => {
    const config = parseConfig({ UPSTREAMS: { quay: QUAY }, OIDC_ISSUERS: ISSUERS, MIRROR_TOKEN_KEY: KEY });
    expect(config.clientAuth).toBe(true);
    expect(config.users).toBeNull();
    expect(config.oidc?.issuers.get("github")?.audiences).toEqual(["https://mirror.example.com"]);
    expect(parseConfig({ UPSTREAMS: { quay: QUAY } }).clientAuth).toBe(false);
  });

  it("needs MIRROR_TOKEN_KEY (32+ characters) without MIRROR_USERS: there is no secret to derive one from", () => {
    for (const key of [undefined, "short"]) {
      expect(() =>
        parseConfig({ UPSTREAMS: { quay: QUAY }, OIDC_ISSUERS: ISSUERS, MIRROR_TOKEN_KEY: key }),
      ).toThrow(/MIRROR_TOKEN_KEY: with OIDC_ISSUERS and no MIRROR_USERS/);
    }
    const withUsers = parseConfig({
      UPSTREAMS: { quay: QUAY },
      OIDC_ISSUERS: ISSUERS,
      MIRROR_USERS: '{"ci":"pw"}',
    });
    expect(withUsers.tokenKey).toContain("pw");
    // Changing the rules invalidates the tokens issued under the old ones.
    expect(withUsers.tokenKey).not.toBe(
      parseConfig({ UPSTREAMS: { quay: QUAY }, MIRROR_USERS: '{"ci":"pw"}' }).tokenKey,
    );
  });

  it("refuses a static user named oidc, the user name of OIDC logins", () => {
    expect(() =>
      parseConfig({ UPSTREAMS: { quay: QUAY }, OIDC_ISSUERS: ISSUERS, MIRROR_USERS: '{"oidc":"pw"}' }),
    ).toThrow(/MIRROR_USERS\.oidc/);
  });

  it("protects upstream credentials like MIRROR_USERS does", () => {
    const config = parseConfig({
      UPSTREAMS: { quay: QUAY },
      OIDC_ISSUERS: ISSUERS,
      MIRROR_TOKEN_KEY: KEY,
      UPSTREAM_QUAY_USERNAME: "robot",
      UPSTREAM_QUAY_PASSWORD: "pw",
    });
    expect(config.upstreams.get("quay")?.accounts).toHaveLength(1);
  });

  it("names the bad field", () => {
    expect(() =>
      parseConfig({ UPSTREAMS: { quay: QUAY }, OIDC_ISSUERS: '{"github":{"issuer":"http://example.com"}}' }),
    ).toThrow(/OIDC_ISSUERS\.github\.issuer/);
  });
});

describe("MIRROR_USERS", () => {
  it("is off when unset", () => {
    expect(parseConfig({ UPSTREAMS: { quay: QUAY } }).users).toBeNull();
  });

  it("reads plain passwords, salted hashes and per-user patterns", () => {
    const users = parseConfig({
      UPSTREAMS: { quay: QUAY },
      MIRROR_USERS: JSON.stringify({
        ci: "pw",
        robot: {
          hash: `pbkdf2-sha256$1000$${btoa("saltsalt")}$${btoa("x".repeat(32))}`,
          allow: ["quay/org/*"],
        },
      }),
    }).users;
    expect([...(users?.keys() ?? [])]).toEqual(["ci", "robot"]);
    expect(users?.get("ci")?.allow).toBeNull();
    expect(users?.get("robot")?.allow?.[0]?.test("quay/org/app")).toBe(true);
  });

  it.each([
    ["not JSON", "{", /MIRROR_USERS: not valid JSON/],
    ["no users", "{}", /MIRROR_USERS: no users/],
    ["a bad hash", '{"ci":{"hash":"md5$abc"}}', /MIRROR_USERS\.ci/],
    [
      "both password and hash",
      `{"ci":{"password":"a","hash":"pbkdf2-sha256$1000$${btoa("saltsalt")}$${btoa("x".repeat(32))}"}}`,
      /exactly one/,
    ],
    ["a bad pattern", '{"ci":{"password":"a","allow":["Quay/*"]}}', /MIRROR_USERS\.ci/],
  ])("refuses %s, without echoing a password", (_case, value, message) => {
    const error = configError({ UPSTREAMS: { quay: QUAY }, MIRROR_USERS: value });
    expect(error.message).toMatch(message);
    expect(error.message).not.toContain('"a"');
  });
});

describe("the colo cache settings", () => {
  const upstreams = { UPSTREAMS: { quay: QUAY } };

  it("default to the Cache API's 512 MB object limit, a day's max-age and the request's host", () => {
    expect(parseConfig(upstreams).coloCache).toEqual({
      maxBytes: 512_000_000,
      ttlSeconds: 86_400,
      host: null,
    });
  });

  it("take COLO_CACHE_MAX_BYTES, COLO_CACHE_TTL and COLO_CACHE_HOST", () => {
    const config = parseConfig({
      ...upstreams,
      COLO_CACHE_MAX_BYTES: "100000000",
      COLO_CACHE_TTL: "3600",
      COLO_CACHE_HOST: "Mirror.Example.com",
    });
    expect(config.coloCache).toEqual({ maxBytes: 100_000_000, ttlSeconds: 3600, host: "mirror.example.com" });
  });

  it("are off with COLO_CACHE_MAX_BYTES = 0", () => {
    expect(parseConfig({ ...upstreams, COLO_CACHE_MAX_BYTES: "0" }).coloCache).toBeNull();
  });

  it.each<[string, ConfigEnv, string]>([
    ["a negative size", { COLO_CACHE_MAX_BYTES: "-1" }, "COLO_CACHE_MAX_BYTES"],
    ["a size that is not a number", { COLO_CACHE_MAX_BYTES: "512MB" }, "COLO_CACHE_MAX_BYTES"],
    ["a max-age under a minute", { COLO_CACHE_TTL: "10" }, "COLO_CACHE_TTL"],
    ["a host with a scheme", { COLO_CACHE_HOST: "https://mirror.example.com" }, "COLO_CACHE_HOST"],
    ["a host with a path", { COLO_CACHE_HOST: "mirror.example.com/x" }, "COLO_CACHE_HOST"],
  ])("refuse %s", (_what, env, field) => {
    expect(configError({ ...upstreams, ...env }).message).toContain(`invalid configuration: ${field}:`);
  });
});

describe("the fills' memory budget", () => {
  const upstreams = { UPSTREAMS: { quay: QUAY } };

  it("defaults to 48 MiB of an isolate's 128 MB, and takes FILL_MEMORY_BYTES", () => {
    expect(parseConfig(upstreams).fillMemoryBytes).toBe(48 * 1024 ** 2);
    expect(parseConfig({ ...upstreams, FILL_MEMORY_BYTES: "16777216" }).fillMemoryBytes).toBe(16 * 1024 ** 2);
  });

  it.each([
    ["more than leaves an isolate room for its heap", String(120 * 1024 ** 2)],
    ["less than a few chunks", "1000000"],
    ["not a number", "48MiB"],
  ])("refuses %s", (_what, value) => {
    expect(configError({ ...upstreams, FILL_MEMORY_BYTES: value }).message).toContain(
      "invalid configuration: FILL_MEMORY_BYTES:",
    );
  });
});

describe("the Workers plan (PLAN)", () => {
  const upstreams = { UPSTREAMS: { quay: QUAY } };

  it('is "paid" unless PLAN says "free"', () => {
    expect(parseConfig(upstreams).plan).toBe("paid");
    expect(parseConfig({ ...upstreams, PLAN: "paid" }).plan).toBe("paid");
    expect(parseConfig({ ...upstreams, PLAN: "free" }).plan).toBe("free");
  });

  it("refuses another value, naming the field", () => {
    expect(configError({ ...upstreams, PLAN: "pro" }).message).toContain("invalid configuration: PLAN:");
  });

  it("refuses warm-ups on the Free plan: a cron run there has 50 subrequests", () => {
    const warm = { ...upstreams, WARM_IMAGES: ["quay/org/app:1"] };
    expect(parseConfig(warm).plan).toBe("paid");
    expect(configError({ ...warm, PLAN: "free" }).message).toContain("invalid configuration: WARM_IMAGES:");
  });
});

describe("how far a client may fall behind a download stored as it streams", () => {
  const upstreams = { UPSTREAMS: { quay: QUAY } };

  it("defaults to 16 MiB and takes CLIENT_WINDOW_BYTES", () => {
    expect(parseConfig(upstreams).clientWindowBytes).toBe(16 * 1024 ** 2);
    expect(parseConfig({ ...upstreams, CLIENT_WINDOW_BYTES: "67108864" }).clientWindowBytes).toBe(
      64 * 1024 ** 2,
    );
  });

  it.each([
    ["more than 64 MiB (the isolate has 128 MB)", String(65 * 1024 ** 2)],
    ["less than a MiB", "4096"],
    ["not a number", "16MiB"],
  ])("refuses %s", (_what, value) => {
    expect(configError({ ...upstreams, CLIENT_WINDOW_BYTES: value }).message).toContain(
      "invalid configuration: CLIENT_WINDOW_BYTES:",
    );
  });
});

describe("the spool limit", () => {
  const upstreams = { UPSTREAMS: { quay: QUAY } };

  it("defaults to 8 GiB, below a Durable Object's 10 GB, and takes SPOOL_MAX_BYTES", () => {
    expect(parseConfig(upstreams).spoolMaxBytes).toBe(8 * 1024 ** 3);
    expect(parseConfig({ ...upstreams, SPOOL_MAX_BYTES: "16777216" }).spoolMaxBytes).toBe(16 * 1024 ** 2);
  });

  it.each([
    ["more than a fill object holds", String(10 * 1024 ** 3)],
    ["less than a MiB", "1000"],
    ["not a number", "8GiB"],
  ])("refuses %s", (_what, value) => {
    expect(configError({ ...upstreams, SPOOL_MAX_BYTES: value }).message).toContain(
      "invalid configuration: SPOOL_MAX_BYTES:",
    );
  });
});

describe("EVENT_WEBHOOKS (a secret: JSON array of {url, secret, events?})", () => {
  const SECRET = "a-long-enough-signing-secret";
  const hooks = (value: unknown) => ({ UPSTREAMS: { quay: QUAY }, EVENT_WEBHOOKS: value });

  it("is empty when unset, and reads https URLs, loopback http URLs and event filters", () => {
    expect(parseConfig({ UPSTREAMS: { quay: QUAY } }).eventWebhooks).toEqual([]);
    const config = parseConfig(
      hooks(
        JSON.stringify([
          { url: "https://scanner.example.com/hook?token=abc", secret: SECRET },
          { url: "http://127.0.0.1:8080/events", secret: SECRET, events: ["image.cached"] },
          { url: "http://localhost/events", secret: SECRET },
          { url: "http://[::1]:9000/", secret: SECRET },
        ]),
      ),
    );
    expect(config.eventWebhooks.map((hook) => [hook.url, hook.events])).toEqual([
      ["https://scanner.example.com/hook?token=abc", null],
      ["http://127.0.0.1:8080/events", ["image.cached"]],
      ["http://localhost/events", null],
      ["http://[::1]:9000/", null],
    ]);
  });

  it.each<[string, unknown, string]>([
    ["not JSON", "[{url:", "EVENT_WEBHOOKS: not valid JSON"],
    ["not an array", JSON.stringify({ url: "https://a.test" }), "EVENT_WEBHOOKS: must be a JSON array"],
    [
      "a plain http URL elsewhere",
      JSON.stringify([{ url: "http://scanner.example.com/", secret: SECRET }]),
      "EVENT_WEBHOOKS[0].url: must be an https URL",
    ],
    [
      "http to a private address",
      JSON.stringify([{ url: "http://10.0.0.1/", secret: SECRET }]),
      "EVENT_WEBHOOKS[0].url",
    ],
    [
      "a URL with credentials",
      JSON.stringify([{ url: "https://u:p@a.test/", secret: SECRET }]),
      "EVENT_WEBHOOKS[0].url",
    ],
    ["a missing secret", JSON.stringify([{ url: "https://a.test/" }]), "EVENT_WEBHOOKS[0].secret"],
    [
      "a short secret",
      JSON.stringify([{ url: "https://a.test/", secret: "short" }]),
      "EVENT_WEBHOOKS[0].secret: must be at least 16 characters",
    ],
    [
      "an unknown event",
      JSON.stringify([{ url: "https://a.test/", secret: SECRET, events: ["image.pushed"] }]),
      "EVENT_WEBHOOKS[0].events[0]",
    ],
    [
      "an unknown field",
      JSON.stringify([{ url: "https://a.test/", secret: SECRET, sercet: "x" }]),
      'EVENT_WEBHOOKS[0]: unknown field "sercet"',
    ],
    [
      "the same URL twice",
      JSON.stringify([
        { url: "https://a.test/", secret: SECRET },
        { url: "https://a.test/", secret: SECRET },
      ]),
      "EVENT_WEBHOOKS[1].url: listed twice",
    ],
  ])("refuses %s, naming the field and never the secret", (_case, value, message) => {
    const error = configError(hooks(value));
    expect(error.message).toContain(message);
    expect(error.message).not.toContain(SECRET);
    expect(error.message).not.toContain("short");
  });
});

describe("client budgets and the storage cap", () => {
  const upstreams = { UPSTREAMS: { quay: QUAY } };

  it("protect a pool and the bill by default: 50 counted requests and 5 GiB of abandoned fills per client and hour, 50 GB stored", () => {
    const config = parseConfig(upstreams);
    expect(config.clientBudget).toEqual({ requests: 50, bytes: 5 * 1024 ** 3 });
    expect(config.retentionMaxBytes).toBe(50_000_000_000);
  });

  it("are set by CLIENT_BUDGET_REQUESTS, CLIENT_BUDGET_BYTES and RETENTION_MAX_BYTES; 0 turns each off", () => {
    const config = parseConfig({
      ...upstreams,
      CLIENT_BUDGET_REQUESTS: "500",
      CLIENT_BUDGET_BYTES: "0",
      RETENTION_MAX_BYTES: "0",
    });
    expect(config.clientBudget).toEqual({ requests: 500, bytes: 0 });
    expect(config.retentionMaxBytes).toBeNull();
  });

  it("refuses a value that is not a number, naming the variable", () => {
    expect(configError({ ...upstreams, CLIENT_BUDGET_REQUESTS: "many" }).message).toMatch(
      /CLIENT_BUDGET_REQUESTS/,
    );
    expect(configError({ ...upstreams, CLIENT_BUDGET_BYTES: "-1" }).message).toMatch(/CLIENT_BUDGET_BYTES/);
  });
});
