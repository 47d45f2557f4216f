import { z } from "zod";
import { ConfigError } from "../config/error";
import { compileGlob, isValidGlob } from "../util/glob";
import { decoySecret, hashCost, isPasswordHash, verifyPassword } from "./passwords";

/** A client of the mirror, from the `MIRROR_USERS` secret. */
export interface MirrorUser {
  readonly name: string;
  /** `<prefix>/<repository>` patterns this user may pull; all when absent. */
  readonly allow: readonly RegExp[] | null;
  /**
   * What passwords are checked against (the stored hash or password), so that a remembered right
   * check (RightSecrets, which holds only an HMAC of it) ends when the stored secret changes.
   */
  readonly scope: string;
  verify(password: string): Promise<boolean>;
}

const userSchema = z.union([
  z.string().min(1),
  z.strictObject({
    password: z.string().min(1).optional(),
    hash: z.string().refine(isPasswordHash, "must be pbkdf2-sha256$<iterations>$<salt>$<hash>").optional(),
    allow: z.array(z.string().refine(isValidGlob, "must be a pattern like dockerhub/library/*")).optional(),
  }),
]);

const usersSchema = z.record(
  z.string().regex(/^[A-Za-z0-9._@-]{1,64}$/, "user names are letters, digits, . _ @ -"),
  userSchema,
);

/** Parses `MIRROR_USERS`; returns null when client authentication is off. Error messages never hold a password. */
export function parseUsers(value: unknown): Map<string, MirrorUser> | null {
  if (value === undefined || value === null || value === "") return null;
  let raw: unknown = value;
  if (typeof value === "string") {
    try {
      raw = JSON.parse(value);
    } catch {
      throw new ConfigError("invalid configuration: MIRROR_USERS: not valid JSON");
    }
  }
  const parsed = usersSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = (issue?.path ?? []).map(String).slice(0, 2).join(".");
    const message =
      issue?.code === "invalid_union" ? "must be a password or {password|hash, allow}" : issue?.message;
    throw new ConfigError(
      `invalid configuration: MIRROR_USERS${path ? `.${path}` : ""}: ${message ?? "invalid"}`,
    );
  }
  const users = new Map<string, MirrorUser>();
  let cost = 0;
  for (const [name, entry] of Object.entries(parsed.data)) {
    const stored = typeof entry === "string" ? { password: entry } : entry;
    if ((stored.password === undefined) === (stored.hash === undefined)) {
      throw new ConfigError(
        `invalid configuration: MIRROR_USERS.${name}: give exactly one of password or hash`,
      );
    }
    cost = Math.max(cost, hashCost(stored));
    users.set(name, {
      name,
      allow: typeof entry === "string" || !entry.allow ? null : entry.allow.map(compileGlob),
      scope: stored.hash ?? stored.password ?? "",
      verify: (password) => verifyPassword(password, stored),
    });
  }
  if (users.size === 0) throw new ConfigError("invalid configuration: MIRROR_USERS: no users");
  decoys.set(users, decoyUser(cost));
  return users;
}

/** Per users map, the user checked for unknown names. */
const decoys = new WeakMap<ReadonlyMap<string, MirrorUser>, MirrorUser>();

/**
 * Stands in for a user name that is not configured, so that a guess costs the same time whether the
 * name exists or not: its check hashes like the costliest configured user's (a plain-password user's
 * answer is quicker; hashes for every user avoid that difference). No password matches it.
 */
export function decoyFor(users: ReadonlyMap<string, MirrorUser>): MirrorUser {
  let decoy = decoys.get(users);
  if (!decoy) {
    decoy = decoyUser(0);
    decoys.set(users, decoy);
  }
  return decoy;
}

function decoyUser(cost: number): MirrorUser {
  const stored = decoySecret(cost);
  return {
    name: "",
    allow: [],
    scope: stored.hash ?? stored.password ?? "",
    verify: async (password) => {
      await verifyPassword(password, stored);
      return false;
    },
  };
}
