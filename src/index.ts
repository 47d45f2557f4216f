import type { Env } from "./env";
import { createApp } from "./http/app";

export { BlobFill } from "./fill/blob-fill-object";
export { ManifestFill } from "./fill/manifest-fill-object";

const app = createApp();

export default {
  fetch: (request, env, ctx) => app.fetch(request, env, ctx),
} satisfies ExportedHandler<Env>;
