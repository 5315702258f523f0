/**
 * The ceiling: a bare Hono route on the same path as the webhook, answering 200 without reading the
 * body or touching any service. Built and run exactly like the bot's Worker (wrangler bundle, workerd).
 */
import { Hono } from "hono";

const app = new Hono({ strict: false }).basePath("/bot");
app.post("/webhook", (c) => c.body(null, 200));
app.get("/health", (c) => c.json({ status: "ok" }));

export default { fetch: app.fetch };
