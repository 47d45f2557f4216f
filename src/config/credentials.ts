import { type ConfigEnv, ConfigError } from "./error";

export interface Credentials {
  readonly username: string;
  readonly password: string;
}

/** Accounts in one `UPSTREAM_<PREFIX>_CREDENTIALS` pool; more would only make the secret unwieldy. */
export const MAX_ACCOUNTS = 50;

/** Environment variable names of an upstream's credentials: prefix upper-cased, other characters → `_`. */
export function credentialVariables(prefix: string): { username: string; password: string; pool: string } {
  const base = `UPSTREAM_${prefix.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`;
  return { username: `${base}_USERNAME`, password: `${base}_PASSWORD`, pool: `${base}_CREDENTIALS` };
}

/** The single pair, then the pool; names the variables and the entry at fault, never a value. */
export function readAccounts(env: ConfigEnv, prefix: string): Credentials[] {
  const names = credentialVariables(prefix);
  const username = env[names.username];
  const password = env[names.password];
  const hasUser = typeof username === "string" && username !== "";
  const hasPassword = typeof password === "string" && password !== "";
  if (hasUser !== hasPassword) {
    throw new ConfigError(
      `invalid configuration: ${hasUser ? names.password : names.username}: must be set together with ${
        hasUser ? names.username : names.password
      }`,
    );
  }
  const accounts: Credentials[] = [];
  if (hasUser && hasPassword) accounts.push({ username: username as string, password: password as string });
  for (const [index, account] of readPool(env[names.pool], names.pool).entries()) {
    const same = accounts.findIndex((other) => other.username === account.username);
    if (same >= 0) {
      throw new ConfigError(
        `invalid configuration: ${names.pool}[${index}]: the same username as ${
          same === 0 && hasUser ? names.username : `${names.pool}[${same - (hasUser ? 1 : 0)}]`
        }`,
      );
    }
    accounts.push(account);
  }
  return accounts;
}

/** `UPSTREAM_<PREFIX>_CREDENTIALS`: `[{"username":"…","password":"…"}, …]`. */
function readPool(value: unknown, variable: string): Credentials[] {
  if (value === undefined || value === null || value === "") return [];
  const shape = `must be a JSON array of {"username": "…", "password": "…"}`;
  let parsed: unknown = value;
  if (typeof value === "string") {
    try {
      parsed = JSON.parse(value);
    } catch {
      // JSON.parse's own message quotes the text: it could carry a password.
      throw new ConfigError(`invalid configuration: ${variable}: not valid JSON (${shape})`);
    }
  }
  if (!Array.isArray(parsed) || parsed.length === 0) {
    throw new ConfigError(`invalid configuration: ${variable}: ${shape}`);
  }
  if (parsed.length > MAX_ACCOUNTS) {
    throw new ConfigError(`invalid configuration: ${variable}: at most ${MAX_ACCOUNTS} accounts`);
  }
  return parsed.map((entry: unknown, index) => {
    const at = `invalid configuration: ${variable}[${index}]`;
    if (!entry || typeof entry !== "object" || Array.isArray(entry)) throw new ConfigError(`${at}: ${shape}`);
    const record = entry as Record<string, unknown>;
    if (Object.keys(record).some((key) => key !== "username" && key !== "password")) {
      throw new ConfigError(`${at}: only "username" and "password" may be given`);
    }
    for (const field of ["username", "password"] as const) {
      if (typeof record[field] !== "string" || record[field] === "") {
        throw new ConfigError(`${at}: ${field} must be a non-empty string`);
      }
    }
    return { username: record.username as string, password: record.password as string };
  });
}
