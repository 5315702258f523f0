import { createApp } from "./app.js";

/** The Worker: one Hono app for everything under /bot. */
export default createApp() satisfies ExportedHandler<Env>;
