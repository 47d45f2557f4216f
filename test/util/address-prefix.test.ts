// Clients are counted per IPv4 address and per IPv6 /64 (throttles, budgets, rate limits).
import { describe, expect, it } from "vitest";
import { addressPrefix } from "../../src/util/address-prefix";

describe("addressPrefix", () => {
  it("keeps an IPv4 address whole", () => {
    expect(addressPrefix("192.0.2.7")).toBe("192.0.2.7");
  });

  it("names an IPv6 address by its /64, however it is written", () => {
    const forms = ["2001:db8:1:2::1", "2001:0db8:0001:0002:ffff:ffff:ffff:ffff", "2001:DB8:1:2:0:0:0:9"];
    for (const form of forms) expect(addressPrefix(form)).toBe("2001:db8:1:2::/64");
    expect(addressPrefix("2001:db8:1:3::1")).toBe("2001:db8:1:3::/64");
    expect(addressPrefix("::1")).toBe("0:0:0:0::/64");
    expect(addressPrefix("2001:db8::")).toBe("2001:db8:0:0::/64");
  });

  it("counts an IPv4-mapped IPv6 address as its IPv4 address", () => {
    expect(addressPrefix("::ffff:192.0.2.7")).toBe("192.0.2.7");
    expect(addressPrefix("::ffff:c000:207")).toBe("192.0.2.7");
  });

  it("keeps what it cannot read, bounded", () => {
    expect(addressPrefix("unknown")).toBe("unknown");
    expect(addressPrefix("1:2:3:4:5:6:7:8:9")).toBe("1:2:3:4:5:6:7:8:9");
    expect(addressPrefix(`${"f:".repeat(100)}`)).toHaveLength(64);
  });
});
