import { describe, expect, it } from "vitest";
import { BlobAccess, fetchesRestricted, type Puller, tableSink } from "../../src/access/blobs";
import { parseDigest } from "../../src/oci/digest";
import { RegistryError } from "../../src/oci/errors";
import type { BlobLinks } from "../../src/storage/blob-links";
import type { RepositoryKey } from "../../src/storage/manifest-store";

const DIGEST = parseDigest(`sha256:${"ab".repeat(32)}`);
const OTHER = parseDigest(`sha256:${"cd".repeat(32)}`);

/** Links in memory, counting what is asked of them. */
class MemoryLinks implements BlobLinks {
  readonly linked = new Set<string>();
  reads = 0;
  async has(repository: RepositoryKey, digest: string): Promise<boolean> {
    this.reads++;
    return this.linked.has(`${repository.upstream}/${repository.name}@${digest}`);
  }
  async add(repository: RepositoryKey, digest: string): Promise<void> {
    this.linked.add(`${repository.upstream}/${repository.name}@${digest}`);
  }
  async purge(): Promise<void> {}
}

/** The upstream's answer to "does this repository hold this blob": it holds what `holdings` lists. */
function upstream(holdings: string[]) {
  const asked: string[] = [];
  const holds = async (client: Puller, name: string, digest: { value: string }) => {
    const key = `${client.upstream.prefix}/${name}@${digest.value}`;
    asked.push(key);
    if (!holdings.includes(key)) throw new RegistryError(404, "BLOB_UNKNOWN", "blob unknown to registry");
    return 42;
  };
  return { asked, holds };
}

const withCredentials: Puller = { upstream: { prefix: "private" }, authenticated: true };
const anonymous: Puller = { upstream: { prefix: "hub" }, authenticated: false };

async function refusal(promise: Promise<unknown> | null): Promise<string> {
  try {
    await promise;
    return "admitted";
  } catch (error) {
    return error instanceof RegistryError ? `${error.status} ${error.code}` : "no registry error";
  }
}

describe("may a repository see a stored blob", () => {
  it("lets a public blob through any repository without reading links or asking the upstream", async () => {
    const links = new MemoryLinks();
    const { asked, holds } = upstream([]);
    await new BlobAccess(links, holds).admitStored(withCredentials, "team/app", DIGEST, false);
    expect(links.reads).toBe(0);
    expect(asked).toEqual([]);
  });

  it("lets a restricted blob through a linked repository without asking the upstream", async () => {
    const links = new MemoryLinks();
    links.linked.add(`private/team/app@${DIGEST.value}`);
    const { asked, holds } = upstream([]);
    await new BlobAccess(links, holds).admitStored(withCredentials, "team/app", DIGEST, true);
    expect(asked).toEqual([]);
  });

  it("asks the upstream about an unlinked repository once, and links it when the upstream confirms", async () => {
    const links = new MemoryLinks();
    const { asked, holds } = upstream([`private/team/app@${DIGEST.value}`]);
    const access = new BlobAccess(links, holds);
    await access.admitStored(withCredentials, "team/app", DIGEST, true);
    await access.admitStored(withCredentials, "team/app", DIGEST, true);
    expect(asked).toEqual([`private/team/app@${DIGEST.value}`]);
    expect([...links.linked]).toEqual([`private/team/app@${DIGEST.value}`]);
  });

  it("refuses with the upstream's answer when it does not confirm, and links nothing", async () => {
    const links = new MemoryLinks();
    links.linked.add(`private/team/app@${DIGEST.value}`);
    links.linked.add(`private/other/app@${OTHER.value}`);
    const { asked, holds } = upstream([]);
    const access = new BlobAccess(links, holds);
    // Links are per repository and per digest: neither another repository's nor another digest's count.
    expect(await refusal(access.admitStored(withCredentials, "other/app", DIGEST, true))).toBe(
      "404 BLOB_UNKNOWN",
    );
    expect(await refusal(access.admitStored(withCredentials, "team/app", OTHER, true))).toBe(
      "404 BLOB_UNKNOWN",
    );
    expect(asked).toHaveLength(2);
    expect(links.linked.size).toBe(2);
  });
});

describe("may the restricted copy in the colo cache be read", () => {
  it("only through an upstream with credentials, and only once the repository is linked", async () => {
    const links = new MemoryLinks();
    const { asked, holds } = upstream([`private/team/app@${DIGEST.value}`]);
    const access = new BlobAccess(links, holds);
    expect(await access.mayReadRestrictedCopy(anonymous, "team/app", DIGEST)).toBe(false);
    expect(links.reads).toBe(0);
    expect(await access.mayReadRestrictedCopy(withCredentials, "team/app", DIGEST)).toBe(false);
    links.linked.add(`private/team/app@${DIGEST.value}`);
    expect(await access.mayReadRestrictedCopy(withCredentials, "team/app", DIGEST)).toBe(true);
    // The lookup never costs an upstream request: a miss goes on to R2, which checks.
    expect(asked).toEqual([]);
  });
});

describe("may a repository read a download in progress", () => {
  const owner = { upstream: "private", name: "team/app" };

  it("at once when the bytes are public or the download is the repository's own", async () => {
    const { asked, holds } = upstream([]);
    const access = new BlobAccess(new MemoryLinks(), holds);
    const sink = new MemoryLinks();
    expect(
      access.admitToDownload(withCredentials, "other/app", DIGEST, { restricted: false, owner }, sink),
    ).toBeNull();
    expect(
      access.admitToDownload(withCredentials, "team/app", DIGEST, { restricted: true, owner }, sink),
    ).toBeNull();
    expect(asked).toEqual([]);
  });

  it("from another repository only once the upstream confirms it, linked in the fill object's table", async () => {
    const links = new MemoryLinks();
    const { asked, holds } = upstream([`private/other/app@${DIGEST.value}`]);
    const access = new BlobAccess(links, holds);
    const table: string[] = [];
    await access.admitToDownload(
      withCredentials,
      "other/app",
      DIGEST,
      { restricted: true, owner },
      tableSink({ link: (r) => table.push(r) }),
    );
    expect(asked).toEqual([`private/other/app@${DIGEST.value}`]);
    expect(table).toEqual(["private/other/app"]);
    expect(links.linked.size).toBe(0);
  });

  it("refuses a repository of the same name through another upstream unless that upstream confirms", async () => {
    const { asked, holds } = upstream([]);
    const access = new BlobAccess(new MemoryLinks(), holds);
    const elsewhere: Puller = { upstream: { prefix: "basic" }, authenticated: true };
    const table: string[] = [];
    const sink = tableSink({ link: (r) => table.push(r) });
    expect(
      await refusal(access.admitToDownload(elsewhere, "team/app", DIGEST, { restricted: true, owner }, sink)),
    ).toBe("404 BLOB_UNKNOWN");
    expect(asked).toEqual([`basic/team/app@${DIGEST.value}`]);
    expect(table).toEqual([]);
  });
});

describe("which fetched blobs are restricted", () => {
  it("those fetched with the mirror's upstream credentials", () => {
    expect(fetchesRestricted(withCredentials)).toBe(true);
    expect(fetchesRestricted(anonymous)).toBe(false);
  });
});
