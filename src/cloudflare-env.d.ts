// Tells `cloudflare:workers` (env, exports) what this Worker's bindings and main module are.
type MirrorEnv = import("./platform/env").Env;
type MirrorModule = typeof import("./index");

declare namespace Cloudflare {
  interface Env extends MirrorEnv {}
  interface GlobalProps {
    mainModule: MirrorModule;
  }
}
