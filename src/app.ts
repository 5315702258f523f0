import { Hono } from "hono/tiny";
import { HTTPException } from "hono/http-exception";
import { ConfigError } from "./config.js";
import { DependencyError, RETRY_AFTER_SECONDS } from "./lib/errors.js";
import { errorFields, plainLogger } from "./lib/logger.js";
import { health } from "./routes/health.js";
import { internal } from "./routes/internal.js";
import { notifications } from "./routes/notifications.js";
import { webhook } from "./routes/webhook.js";
import type { AppEnv } from "./types.js";


/** Builds the Hono app that serves everything under `/bot`. */
export function createApp(): Hono<AppEnv> {
  // strict: false makes `/bot/webhook/` and `/bot/webhook` the same route.
  const app = new Hono<AppEnv>({ strict: false }).basePath("/bot");
  app.route("/", health);
  app.route("/", webhook);
  app.route("/internal", internal);
  app.route("/internal", notifications);
  app.notFound((c) => c.json({ error: "not_found" }, 404));
  app.onError(function handleError(error, c) {
    if (error instanceof ConfigError) {
      plainLogger.error("configuration error", { variable: error.variable, problem: error.problem });
      return c.json({ error: "configuration_error", variable: error.variable, problem: error.problem }, 500);
    }
    if (error instanceof DependencyError) {
      c.get("runtime")?.logger.warn("dependency unavailable", { path: c.req.path, dependency: error.dependency });
      return c.json({ error: "dependency_unavailable", dependency: error.dependency }, 503, { "Retry-After": RETRY_AFTER_SECONDS });
    }
    if (error instanceof HTTPException) return c.json({ error: error.message || "error" }, error.status);
    (c.get("runtime")?.logger ?? plainLogger).error("unhandled error", { path: c.req.path, ...errorFields(error) });
    return c.json({ error: "internal_error" }, 500);
  });
  return app;
}
