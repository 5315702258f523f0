import { createApp } from "./app.js";
import { runtimeFor } from "./runtime.js";

const app = createApp();

/**
 * The Worker: one Hono app for everything under /bot, and the consumer of the notifications queue
 * and its dead-letter queue. Queue bodies are checked by the consumer, so they arrive as `unknown`.
 */
export default {
  fetch: app.fetch,
  queue: (batch, env) => runtimeFor(env).notifications.consume(batch),
} satisfies ExportedHandler<Env, unknown>;

export { NotificationPacer } from "./notifications/pacer.js";
