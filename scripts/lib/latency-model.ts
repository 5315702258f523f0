import { InvalidArgumentError } from "commander";

/**
 * Added latency per request, ms, of each local stand-in: what a round trip to the real service costs a
 * Worker in production (the local ones answer in microseconds).
 */
export interface LatencyModel {
  /** Each HTTP request to the Upstash gateway (one command or one pipeline). */
  upstash: number;
  /** Each `/sql` request to the Neon gateway, each WebSocket upgrade and each message through a tunnel. */
  neon: number;
  /** Each Bot API call to the double. */
  telegram: number;
}

/** No added latency: the local services as fast as they are. */
export const NO_LATENCY: LatencyModel = { upstash: 0, neon: 0, telegram: 0 };

/**
 * The benchmark's production model: a Worker at the Cloudflare location Telegram's webhooks arrive at,
 * with Upstash and Neon in the AWS region nearest to it. Where each figure comes from: bench/README.md.
 */
export const PRODUCTION_LATENCY_MODEL: LatencyModel = { upstash: 5, neon: 20, telegram: 50 };

const SERVICES = Object.keys(NO_LATENCY) as (keyof LatencyModel)[];

/**
 * Parses `upstash=5,neon=20,telegram=50` (ms, each name at most once; a name left out is 0), or
 * `production` for `PRODUCTION_LATENCY_MODEL` and `none` for no latency — a commander option parser.
 */
export function parseLatencyModel(text: string): LatencyModel {
  if (text === "production") return { ...PRODUCTION_LATENCY_MODEL };
  if (text === "none") return { ...NO_LATENCY };
  const model = { ...NO_LATENCY };
  const seen = new Set<string>();
  for (const part of text.split(",")) {
    const match = /^\s*([a-z]+)\s*=\s*(\d+(?:\.\d+)?)\s*$/.exec(part);
    const name = match?.[1] as keyof LatencyModel | undefined;
    if (match === null || name === undefined || !SERVICES.includes(name) || seen.has(name) || Number(match[2]) > 60_000) {
      throw new InvalidArgumentError(
        `expected ${SERVICES.map((service) => `${service}=MS`).join(",")} (any of them, 0–60000 ms each), "production" or "none"`,
      );
    }
    seen.add(name);
    model[name] = Number(match[2]);
  }
  return model;
}

/** `upstash=5,neon=20,telegram=50` */
export function formatLatencyModel(model: LatencyModel): string {
  return SERVICES.map((service) => `${service}=${model[service]}`).join(",");
}
