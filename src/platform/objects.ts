import { configFor } from "../config";
import { BlobFill as BlobFillObject } from "./blob-fill";
import type { Env } from "./env";
import { ManifestMisses as ManifestMissesObject } from "./manifest-misses";
import { servicesFor } from "./services";
import { MirrorStats as MirrorStatsObject } from "./stats-object";

// The Durable Object classes as the runtime makes them (`new Class(ctx, env)`): each object gets what
// it needs from the composition root here, as arguments, instead of importing it (which made the
// objects, `env.ts`, the services and the stats recorder one circle of modules).

export class BlobFill extends BlobFillObject {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env, (invocation) => servicesFor(env, undefined, invocation));
  }
}

export class ManifestMisses extends ManifestMissesObject {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env, () => servicesFor(env));
  }
}

export class MirrorStats extends MirrorStatsObject {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env, {
      services: (invocation) => servicesFor(env, undefined, invocation),
      config: () => {
        try {
          return configFor(env);
        } catch {
          return null;
        }
      },
      eventsQueue: env.EVENTS_QUEUE ?? null,
    });
  }
}
