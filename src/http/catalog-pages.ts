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

/** Where a request starts: after a name (null = the beginning), or past the end (an end cursor). */
export interface Position {
  readonly after: string | null;
  readonly end: boolean;
}

/**
 * The `last` value of the next page's link; null = no link.
 *
 * For a client that sees every repository (`seesAll`) nothing is hidden: the page's last name goes as
 * it is, as registries do, and there is no link after the last page. For any other client both the
 * link and its value must say nothing about hidden rows: whether rows follow the last visible one,
 * how many (the read budget running out), or how long a hidden name is. So it always gets a link, and
 * always an encrypted cursor of one fixed length: to where the scan stopped, or to the end, where it
 * gets an empty page and no link. That costs it one more request per walk, nothing else.
 */
export async function nextLast(page: VisiblePage, key: string, seesAll: boolean): Promise<string | null> {
  if (seesAll) {
    if (page.resumeAfter === null) return null;
    if (page.resumeAfter === page.repositories.at(-1)) return page.resumeAfter;
  }
  return seal(page.resumeAfter, key);
}

/** The position a `last` value stands for: a repository name, or a cursor this mirror issued. */
export async function positionOf(last: string | null, key: string): Promise<Position> {
  if (last === null || !last.startsWith(CURSOR_MARK)) return { after: last, end: false };
  try {
    const bytes = fromBase64Url(last.slice(CURSOR_MARK.length));
    const opened = new Uint8Array(
      await crypto.subtle.decrypt(
        { name: "AES-GCM", iv: bytes.slice(0, 12) },
        await cursorKey(key),
        bytes.slice(12),
      ),
    );
    if (opened.byteLength !== CURSOR_BYTES) throw new Error("not a cursor of this length");
    if (opened[0] === END) return { after: null, end: true };
    const length = opened.indexOf(0, 1);
    return { after: new TextDecoder().decode(opened.slice(1, length < 0 ? undefined : length)), end: false };
  } catch {
    throw new RegistryError(400, "NAME_INVALID", "last is neither a repository nor a cursor of this mirror");
  }
}

/**
 * A cursor's plain text: a kind byte, then the name padded with zero bytes (no name holds one) to one
 * length. A catalog row is `<prefix>/<name>`: at most 64 + 1 + 255 bytes.
 */
const CURSOR_BYTES = 512;
const AFTER = 1;
const END = 2;

async function seal(after: string | null, key: string): Promise<string> {
  const plain = new Uint8Array(CURSOR_BYTES);
  plain[0] = after === null ? END : AFTER;
  if (after !== null) {
    const name = new TextEncoder().encode(after);
    // Longer than any row can be: cut, which at worst repeats a few names on the next page.
    plain.set(name.slice(0, CURSOR_BYTES - 1), 1);
  }
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv }, await cursorKey(key), plain);
  return `${CURSOR_MARK}${toBase64Url(concat(iv, new Uint8Array(sealed)))}`;
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
