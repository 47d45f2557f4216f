import { describe, expect, it } from "vitest";
import { ListingMemory } from "../../src/storage/listing-memory";

const repository = { upstream: "hub", name: "library/alpine" };
const listing = (body: string) => ({ body, contentType: "application/json", checkedAt: 0 });

describe("ListingMemory (answers a client can vary without bound, never in KV)", () => {
  it("keeps an answer for its time only", () => {
    let now = 1_000;
    const memory = new ListingMemory(() => now);
    memory.put(repository, "tags?n=1&last=a", listing("page"), 60);
    expect(memory.get(repository, "tags?n=1&last=a")?.body).toBe("page");
    expect(memory.get({ ...repository, name: "library/other" }, "tags?n=1&last=a")).toBeNull();
    now += 60_000;
    expect(memory.get(repository, "tags?n=1&last=a")).toBeNull();
  });

  it("holds 1,000 answers at most, forgetting the oldest first", () => {
    const memory = new ListingMemory(() => 0);
    for (let index = 0; index < 1_500; index++)
      memory.put(repository, `referrers/${index}`, listing(`${index}`), 60);
    expect(memory.get(repository, "referrers/0")).toBeNull();
    expect(memory.get(repository, "referrers/499")).toBeNull();
    expect(memory.get(repository, "referrers/500")?.body).toBe("500");
    expect(memory.get(repository, "referrers/1499")?.body).toBe("1499");
  });
});
