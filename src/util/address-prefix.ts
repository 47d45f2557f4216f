/**
 * The part of a client address that names one client: an IPv4 address whole, an IPv6 address by its
 * /64 (one subscriber's network; a host picks any of its 2^64 addresses at will, so counting per
 * address would give each client endless budgets). An IPv4-mapped IPv6 address counts as its IPv4
 * address. Anything unreadable is kept as given, cut to 64 characters.
 */
export function addressPrefix(address: string): string {
  const trimmed = address.trim().toLowerCase();
  if (!trimmed.includes(":")) return trimmed.slice(0, 64);
  const groups = ipv6Groups(trimmed);
  if (!groups) return trimmed.slice(0, 64);
  const mapped = groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff;
  if (mapped) {
    const [high = 0, low = 0] = groups.slice(6);
    return [high >> 8, high & 0xff, low >> 8, low & 0xff].join(".");
  }
  return `${groups
    .slice(0, 4)
    .map((group) => group.toString(16))
    .join(":")}::/64`;
}

/** The eight 16-bit groups of an IPv6 address (with `::` and a dotted IPv4 tail); null if malformed. */
function ipv6Groups(address: string): number[] | null {
  const withoutZone = address.split("%", 1)[0] ?? "";
  const halves = withoutZone.split("::");
  if (halves.length > 2) return null;
  const parse = (part: string): number[] | null => {
    if (part === "") return [];
    const groups: number[] = [];
    const pieces = part.split(":");
    for (const [index, piece] of pieces.entries()) {
      if (index === pieces.length - 1 && piece.includes(".")) {
        const octets = piece
          .split(".")
          .map((octet) => (/^\d{1,3}$/.test(octet) ? Number(octet) : Number.NaN));
        if (octets.length !== 4 || octets.some((octet) => !(octet <= 255))) return null;
        const [a = 0, b = 0, c = 0, d = 0] = octets;
        groups.push((a << 8) | b, (c << 8) | d);
      } else if (/^[0-9a-f]{1,4}$/.test(piece)) {
        groups.push(Number.parseInt(piece, 16));
      } else {
        return null;
      }
    }
    return groups;
  };
  const head = parse(halves[0] ?? "");
  const tail = halves.length === 2 ? parse(halves[1] ?? "") : [];
  if (!head || !tail) return null;
  if (halves.length === 1) return head.length === 8 ? head : null;
  const missing = 8 - head.length - tail.length;
  if (missing < 1) return null;
  return [...head, ...new Array<number>(missing).fill(0), ...tail];
}
