/**
 * The production latency model of a local service and the record of when its requests came and went.
 *
 * - An added latency (ms) is waited out before each request is handled, as a network round trip to
 *   Upstash, Neon or Telegram would be (`npm run local:services -- --latency …`, the benchmark).
 * - While recording, each request's arrival and answer times are kept on a clock every process on the
 *   machine shares (`sharedClockMs`), so the benchmark can tell which requests a webhook request waited for.
 *
 * Controls (beside each service's own): `POST /__control/latency?ms=N` sets the latency,
 * `POST /__control/timeline` starts recording afresh, `GET /__control/timeline` answers
 * `{ requests: [[arrivedAt, answeredAt, what], …] }` (ms, in the order they were answered),
 * `DELETE /__control/timeline` stops.
 */
import type { ServerResponse } from "node:http";

/** At most this many requests are kept while recording; later ones are not recorded. */
const MAX_RECORDED = 50_000;

/**
 * Milliseconds (µs precision) on the system's monotonic clock: unlike `performance.now()` (which starts
 * at each process's own origin) it reads the same in every process of this machine.
 */
export function sharedClockMs(): number {
  return Number(process.hrtime.bigint() / 1000n) / 1000;
}

/** A request's arrival and answer on the shared clock (ms), and what it was (a path, a Bot API method). */
export type TimedRequest = [arrivedAt: number, answeredAt: number, what?: string];

/** The added latency of one service and its optional request timeline. */
export class RequestTiming {
  #timeline: TimedRequest[] | undefined;

  constructor(public latencyMs = 0) {
    if (!validLatency(latencyMs)) throw new RangeError("the added latency must be 0–60000 ms");
  }

  /** Runs `handle` once the added latency has passed; records the request (as `what`) while recording. */
  serve(res: ServerResponse, what: string, handle: () => void): void {
    const timeline = this.#timeline;
    if (timeline !== undefined && timeline.length < MAX_RECORDED) {
      const arrivedAt = sharedClockMs();
      let recorded = false;
      const answered = () => {
        if (!recorded) timeline.push([arrivedAt, sharedClockMs(), what]);
        recorded = true;
      };
      // The answer's moment is when it is handed to the socket: `finish` comes later, once the event
      // loop gets to it, and could then look later than the client's own next step.
      const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
      res.end = ((...args: unknown[]) => {
        answered();
        return end(...args);
      }) as ServerResponse["end"];
      // A request whose socket is destroyed (an outage) never ends.
      res.once("close", answered);
    }
    this.delay(handle);
  }

  /** Calls `next` after the added latency (at once when there is none). */
  delay(next: () => void): void {
    if (this.latencyMs > 0) setTimeout(next, this.latencyMs);
    else next();
  }

  /**
   * The answer to `route` ("METHOD /path") when it is one of the controls above, else undefined; a
   * latency that is not a number of ms from 0 to 60000 is a 400.
   */
  control(route: string, url: URL): { status: number; body: object } | undefined {
    const done = (body: object = { ok: true }) => ({ status: 200, body });
    switch (route) {
      case "POST /__control/latency": {
        const ms = Number(url.searchParams.get("ms") ?? Number.NaN);
        if (!validLatency(ms)) return { status: 400, body: { ok: false, error: "ms must be a number from 0 to 60000" } };
        this.latencyMs = ms;
        return done({ ok: true, latency_ms: ms });
      }
      case "POST /__control/timeline":
        this.#timeline = [];
        return done();
      case "GET /__control/timeline":
        return done({ requests: this.#timeline ?? [] });
      case "DELETE /__control/timeline":
        this.#timeline = undefined;
        return done();
      default:
        return undefined;
    }
  }
}

function validLatency(ms: number): boolean {
  return Number.isFinite(ms) && ms >= 0 && ms <= 60_000;
}

