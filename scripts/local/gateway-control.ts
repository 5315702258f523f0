import type { FaultSwitch } from "./fault-switch.js";

/**
 * The answer to a `/__control/*` route both gateways serve, or undefined for any other route:
 * `GET /__control/stats` (the counters), `POST /__control/stats/reset` (zeroes them) and the outage
 * switch's `POST /__control/down | hang | edge/<code> | http-error/<status> | up`.
 */
export function gatewayControl(route: string, stats: Record<string, number>, outage: FaultSwitch): object | undefined {
  if (route === "GET /__control/stats") return stats;
  if (route === "POST /__control/stats/reset") for (const key of Object.keys(stats)) stats[key] = 0;
  else if (!outage.control(route)) return undefined;
  return { ok: true, down: outage.down };
}
