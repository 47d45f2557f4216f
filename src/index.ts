import { createApp } from "./http/app";
import type { Env } from "./platform/env";
import { runScheduled } from "./platform/scheduled";

export { BlobFill, ManifestMisses, MirrorStats } from "./platform/objects";

const app = createApp();

export default {
  fetch: (request, env, ctx) => app.fetch(request, env, ctx),
  scheduled: (_controller, env, ctx) => ctx.waitUntil(runScheduled(env)),
} satisfies ExportedHandler<Env>;
