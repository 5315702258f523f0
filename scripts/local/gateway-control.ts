import type { FaultSwitch } from "./fault-switch.js";
import type { RequestTiming } from "./request-timing.js";

/** What a gateway's control routes act on. */
export interface GatewayControls {
  stats: Record<string, number>;
  outage: FaultSwitch;
  timing: RequestTiming;
}

/**
 * The answer to a `/__control/*` route both gateways serve, or undefined for any other route:
 * `GET /__control/stats` (the counters), `POST /__control/stats/reset` (zeroes them), the outage
 * switch's `POST /__control/down | hang | edge/<code> | http-error/<status> | up`, and the latency and
 * timeline controls of `RequestTiming`.
 */
export function gatewayControl(route: string, url: URL, { stats, outage, timing }: GatewayControls): { status: number; body: object } | undefined {
  if (route === "GET /__control/stats") return { status: 200, body: stats };
  if (route === "POST /__control/stats/reset") for (const key of Object.keys(stats)) stats[key] = 0;
  else if (!outage.control(route)) return timing.control(route, url);
  return { status: 200, body: { ok: true, down: outage.down } };
}
