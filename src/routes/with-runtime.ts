import { createMiddleware } from "hono/factory";
import { runtimeFor } from "../runtime.js";
import type { AppEnv } from "../types.js";

/** Puts the isolate's runtime on the context; a configuration error becomes the app's 500. */
export const withRuntime = createMiddleware<AppEnv>(async function withRuntime(c, next) {
  c.set("runtime", runtimeFor(c.env));
  await next();
});
