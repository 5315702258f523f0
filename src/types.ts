import type { Runtime } from "./runtime.js";

/** What the webhook handler learned about a request, for its log line. */
export interface WebhookLogFields {
  update_id: number;
  update_type: string;
  outcome: string;
}

/** The Hono environment of the app: Worker bindings, and per-request values set by middleware. */
export interface AppEnv {
  Bindings: Env;
  Variables: {
    /** Set by `withRuntime`. */
    runtime: Runtime;
    /** Set by the webhook handler once the body is an update. */
    webhookLog: WebhookLogFields;
  };
}
