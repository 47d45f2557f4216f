import { z } from "zod";
import { ConfigError } from "../config-error";
import { compileGlob, isValidGlob } from "../util/glob";
import { isPasswordHash, verifyPassword } from "./passwords";

/** A client of the mirror, from the `MIRROR_USERS` secret. */
export interface MirrorUser {
  readonly name: string;
  /** `<prefix>/<repository>` patterns this user may pull; all when absent. */
  readonly allow: readonly RegExp[] | null;
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
  for (const [name, entry] of Object.entries(parsed.data)) {
    const stored = typeof entry === "string" ? { password: entry } : entry;
    if ((stored.password === undefined) === (stored.hash === undefined)) {
      throw new ConfigError(
        `invalid configuration: MIRROR_USERS.${name}: give exactly one of password or hash`,
      );
    }
    users.set(name, {
      name,
      allow: typeof entry === "string" || !entry.allow ? null : entry.allow.map(compileGlob),
      verify: (password) => verifyPassword(password, stored),
    });
  }
  if (users.size === 0) throw new ConfigError("invalid configuration: MIRROR_USERS: no users");
  return users;
}
