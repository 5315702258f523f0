import type { IncomingMessage, ServerResponse } from "node:http";

/**
 * What Cloudflare's edge answers a Worker's subrequest with when it cannot reach the origin: the status,
 * and the code in its plain-text body (`error code: 1016` is a DNS failure, 525/526 TLS, 521-523 a
 * refused or unreachable origin, 524 a timeout).
 */
const EDGE_ERRORS: Record<string, { status: number; code: number }> = {
  "521": { status: 521, code: 521 },
  "522": { status: 522, code: 522 },
  "523": { status: 523, code: 523 },
  "524": { status: 524, code: 524 },
  "525": { status: 525, code: 525 },
  "526": { status: 526, code: 526 },
  "1016": { status: 530, code: 1016 },
};

/**
 * The outage switch of a local gateway, behind its `POST /__control/down | hang | edge/<code> |
 * http-error/<status> | up` routes: down destroys each request's socket (a dead service), hang holds
 * requests unanswered (a slow one), edge/<code> answers every request as Cloudflare's edge does when the
 * origin fails that way (e.g. edge/1016, a DNS failure), http-error/<status> as a failing service does
 * (a 5xx with a JSON error), up answers again and drops whatever was held.
 */
export class FaultSwitch {
  #down = false;
  #hanging = false;
  #answer: { status: number; contentType: string; body: string } | undefined;
  readonly #held = new Set<IncomingMessage>();

  get down(): boolean {
    return this.#down;
  }

  /** Takes a request out of normal handling while down, hanging or failing at the edge; true when it did. */
  intercept(req: IncomingMessage, res: ServerResponse): boolean {
    if (this.#down) req.socket.destroy();
    else if (this.#hanging) this.#held.add(req);
    else if (this.#answer !== undefined) {
      res.writeHead(this.#answer.status, { "content-type": this.#answer.contentType });
      res.end(this.#answer.body);
    } else return false;
    return true;
  }

  /** Applies `POST /__control/down|hang|edge/<code>|http-error/<status>|up`; false for any other route. */
  control(route: string): boolean {
    const edge = EDGE_ERRORS[/^POST \/__control\/edge\/(\d+)$/.exec(route)?.[1] ?? ""];
    const status = Number(/^POST \/__control\/http-error\/(5\d\d)$/.exec(route)?.[1]);
    if (route === "POST /__control/down") this.#down = true;
    else if (route === "POST /__control/hang") this.#hanging = true;
    else if (route === "POST /__control/up") this.up();
    else if (edge !== undefined) {
      this.#answer = { status: edge.status, contentType: "text/plain; charset=UTF-8", body: `error code: ${edge.code}` };
    } else if (status > 0) {
      // Upstash names the failure in "error", Neon in "message".
      const error = `service failed with HTTP ${status}`;
      this.#answer = { status, contentType: "application/json", body: JSON.stringify({ error, message: error }) };
    } else return false;
    return true;
  }

  /** Back to normal; held requests are dropped. */
  up(): void {
    this.#down = this.#hanging = false;
    this.#answer = undefined;
    for (const req of this.#held) req.socket.destroy();
    this.#held.clear();
  }
}
