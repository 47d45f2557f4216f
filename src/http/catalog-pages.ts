import { RegistryError } from "../oci/errors";

/** One read of the catalog: names sorted, after `last`, and whether more follow. */
export type CatalogRows = (
  n: number,
  last: string | null,
) => Promise<{ repositories: string[]; more: boolean }>;

export interface ScanLimits {
  /** Rows per read. */
  readonly batch: number;
  /** Reads per page at most: each is a Durable Object call, and a client may see very little. */
  readonly reads: number;
}

const SCAN_LIMITS: ScanLimits = { batch: 1000, reads: 5 };

export interface VisiblePage {
  readonly repositories: string[];
  /** Where the next page starts (exclusive); null when the catalog is exhausted. May be a hidden name. */
  readonly resumeAfter: string | null;
}

/**
 * Up to `n` names this client may see, after `after`. Pages over the filtered list, so a page is full
 * even when hidden names surround the visible ones, and every visible name is reached by following
 * pages. When the read budget runs out first, the page is shorter and `resumeAfter` is where it stopped.
 */
export async function visiblePage(
  rows: CatalogRows,
  n: number,
  after: string | null,
  visible: (repository: string) => boolean,
  limits: ScanLimits = SCAN_LIMITS,
): Promise<VisiblePage> {
  const repositories: string[] = [];
  let position = after;
  for (let read = 0; read < limits.reads; read++) {
    const batch = await rows(limits.batch, position);
    for (const [index, repository] of batch.repositories.entries()) {
      position = repository;
      if (!visible(repository)) continue;
      repositories.push(repository);
      const more = batch.more || index < batch.repositories.length - 1;
      if (repositories.length === n) return { repositories, resumeAfter: more ? repository : null };
    }
    if (!batch.more) return { repositories, resumeAfter: null };
  }
  return { repositories, resumeAfter: position };
}

/**
 * The `last` value of the next page's link. A name the client sees (the page's last) goes as it is,
 * as registries do; a hidden position goes encrypted, so the link names nothing the client may not see.
 */
export async function nextLast(page: VisiblePage, key: string): Promise<string | null> {
  if (page.resumeAfter === null) return null;
  if (page.resumeAfter === page.repositories.at(-1)) return page.resumeAfter;
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv },
    await cursorKey(key),
    new TextEncoder().encode(page.resumeAfter),
  );
  return `${CURSOR_MARK}${toBase64Url(concat(iv, new Uint8Array(sealed)))}`;
}

/** The position a `last` value stands for: a repository name, or a cursor this mirror issued. */
export async function positionOf(last: string | null, key: string): Promise<string | null> {
  if (last === null || !last.startsWith(CURSOR_MARK)) return last;
  try {
    const bytes = fromBase64Url(last.slice(CURSOR_MARK.length));
    const opened = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: bytes.slice(0, 12) },
      await cursorKey(key),
      bytes.slice(12),
    );
    return new TextDecoder().decode(opened);
  } catch {
    throw new RegistryError(400, "NAME_INVALID", "last is neither a repository nor a cursor of this mirror");
  }
}

/** No repository name starts with "~", so a cursor cannot be mistaken for one. */
const CURSOR_MARK = "~";

async function cursorKey(secret: string): Promise<CryptoKey> {
  const material = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(`catalog-cursor:${secret}`),
  );
  return crypto.subtle.importKey("raw", material, "AES-GCM", false, ["encrypt", "decrypt"]);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a);
  out.set(b, a.byteLength);
  return out;
}

function toBase64Url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replace(/=+$/, "");
}

function fromBase64Url(value: string): Uint8Array {
  const base64 = value.replaceAll("-", "+").replaceAll("_", "/");
  return Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
}
