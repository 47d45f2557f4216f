import type { UpstreamConfig } from "../../src/config";

/** An upstream's configuration as the parser gives it with every default, over `settings`. */
export function upstreamConfig(
  settings: Partial<UpstreamConfig> & Pick<UpstreamConfig, "url">,
): UpstreamConfig {
  return {
    prefix: "up",
    library: false,
    hosts: [],
    tagTtl: 300,
    maxStale: 0,
    timeout: 5,
    allow: [],
    deny: [],
    authHosts: [],
    accounts: [],
    quotaReserve: 10,
    ...settings,
  };
}
