import type { Env } from "./env";
import { createApp } from "./http/app";
import { runScheduled } from "./ops/scheduled";

export { BlobFill } from "./fill/blob-fill-object";
export { ManifestFill } from "./fill/manifest-fill-object";
export { MirrorStats } from "./ops/stats-object";

const app = createApp();

export default {
  fetch: (request, env, ctx) => app.fetch(request, env, ctx),
  scheduled: (_controller, env, ctx) => ctx.waitUntil(runScheduled(env)),
} satisfies ExportedHandler<Env>;
