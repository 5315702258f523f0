import type { Runtime } from "./runtime.js";

/** The Hono environment of the app: Worker bindings, and the runtime set by `withRuntime`. */
export interface AppEnv {
  Bindings: Env;
  Variables: { runtime: Runtime };
}
