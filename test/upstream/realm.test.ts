import { describe, expect, it } from "vitest";
import { type RealmPolicy, realmRefusal, registrableDomain } from "../../src/upstream/realm";

describe("registrableDomain", () => {
  it.each([
    ["registry-1.docker.io", "docker.io"],
    ["auth.docker.io", "docker.io"],
    ["quay.io", "quay.io"],
    ["us-docker.pkg.dev", "pkg.dev"],
    ["registry.example.co.uk", "example.co.uk"],
    ["a.b.example.com.au", "example.com.au"],
    ["registry.abc.io", "abc.io"],
    ["Registry.Example.COM.", "example.com"],
    // Shared suffixes of the Public Suffix List's private section: each site is a domain of its own.
    ["registry.me.github.io", "me.github.io"],
    ["mirror.herokuapp.com", "mirror.herokuapp.com"],
    ["a.b.example.pvt.k12.ma.us", "example.pvt.k12.ma.us"],
  ])("%s → %s", (host, domain) => {
    expect(registrableDomain(host)).toBe(domain);
  });

  it.each(["127.0.0.1", "[::1]", "localhost"])("%s has none: it only matches itself", (host) => {
    expect(registrableDomain(host)).toBeNull();
  });
});

describe("realmRefusal", () => {
  const hub: RealmPolicy = { url: "https://registry-1.docker.io", authHosts: [] };
  const refused = (realm: string, policy: RealmPolicy = hub) => realmRefusal(new URL(realm), policy);

  it.each([
    "https://auth.docker.io/token",
    "https://registry-1.docker.io/token",
    "https://docker.io/token",
    "https://auth.docker.io:8443/token",
  ])("accepts %s for Docker Hub (same registrable domain)", (realm) => {
    expect(refused(realm)).toBeNull();
  });

  it.each([
    ["http://auth.docker.io/token", /https/],
    ["https://evil.example/token", /authHosts/],
    ["https://docker.io.evil.example/token", /authHosts/],
    ["https://evildocker.io/token", /authHosts/],
    ["ftp://auth.docker.io/token", /https/],
    ["https://user:pw@auth.docker.io/token", /credentials/],
  ])("refuses %s for an https upstream", (realm, reason) => {
    expect(refused(realm)).toMatch(reason);
  });

  it("does not count other sites under a shared suffix as the upstream's (github.io)", () => {
    const pages = { url: "https://registry.me.github.io", authHosts: [] };
    expect(refused("https://auth.me.github.io/token", pages)).toBeNull();
    expect(refused("https://attacker.github.io/token", pages)).toMatch(/authHosts/);
    expect(refused("https://github.io/token", pages)).toMatch(/authHosts/);
  });

  it("accepts a host listed in authHosts", () => {
    const policy = { url: "https://registry.example.com", authHosts: ["login.idp.test"] };
    expect(refused("https://login.idp.test/token", policy)).toBeNull();
    expect(refused("https://other.idp.test/token", policy)).not.toBeNull();
  });

  it("a plain-http loopback upstream: http realms on the same host (any port) only", () => {
    const loopback = { url: "http://127.0.0.1:5000", authHosts: [] };
    expect(refused("http://127.0.0.1:5001/token", loopback)).toBeNull();
    expect(refused("https://127.0.0.1/token", loopback)).toBeNull();
    expect(refused("http://localhost:5001/token", loopback)).not.toBeNull();
    expect(refused("http://127.0.0.2/token", loopback)).not.toBeNull();
    expect(refused("http://localhost:5001/token", { ...loopback, authHosts: ["localhost"] })).toBeNull();
  });

  it("localhost does not stand for a whole domain", () => {
    const local = { url: "http://localhost:5000", authHosts: [] };
    expect(refused("http://localhost:9/token", local)).toBeNull();
    expect(refused("http://evil.localhost/token", local)).not.toBeNull();
  });
});
