// What a test file sees of the test bed: the BedInfo from globalSetup and an admin client.

import { join } from "node:path";
import { inject } from "vitest";
import { AdminClient } from "./admin.ts";
import type { BedInfo, Prefix } from "./bed.ts";
import { type Mirror, startMirror, type UpstreamConfig } from "./mirror.ts";

declare module "vitest" {
  export interface ProvidedContext {
    bed: BedInfo;
  }
}

export function bed(): BedInfo {
  return inject("bed");
}

export function admin(): AdminClient {
  return new AdminClient(bed().adminUrl);
}

/**
 * Another mirror in front of the bed's upstreams (same configs, and the bed's credentials for the
 * upstreams that take them unless `credentials` is false), with its own variables, flags and log.
 */
export function startBedMirror(options: {
  logFile: string;
  vars?: Record<string, string>;
  extraArgs?: string[];
  credentials?: boolean;
  /** Upstreams whose single pair of credentials is left out (e.g. to give them a pool instead). */
  withoutCredentials?: Prefix[];
  /** Settings that differ from the bed's, per upstream. */
  upstreams?: Partial<Record<Prefix, Partial<UpstreamConfig>>>;
  /** Statuses of `GET /v2/` that mean it is up (401 with client authentication on). */
  readyStatuses?: number[];
}): Promise<Mirror> {
  const b = bed();
  const entries = Object.entries(b.upstreams) as [Prefix, BedInfo["upstreams"][Prefix]][];
  return startMirror({
    repoRoot: b.repoRoot,
    upstreams: Object.fromEntries(entries.map(([p, u]) => [p, { ...u.config, ...options.upstreams?.[p] }])),
    defaultUpstream: "hub",
    credentials:
      options.credentials === false
        ? {}
        : Object.fromEntries(
            entries
              .filter(([p, u]) => u.credentials && !options.withoutCredentials?.includes(p))
              .map(([p]) => [p, b.user]),
          ),
    vars: options.vars,
    extraArgs: options.extraArgs,
    readyStatuses: options.readyStatuses,
    logFile: join(b.workDir, options.logFile),
  });
}
