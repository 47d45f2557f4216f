/** The accounts of the `pool` upstream, as vitest.config.ts gives them to the mirror. */
import { env } from "cloudflare:workers";

export const POOL_ACCOUNTS = JSON.parse(String(env.UPSTREAM_POOL_CREDENTIALS)) as [
  { username: string; password: string },
  { username: string; password: string },
];
