import type { IncomingMessage } from "node:http";

/**
 * The outage switch of a local gateway, behind its `POST /__control/down | hang | up` routes:
 * down destroys each request's socket (a dead service), hang holds requests unanswered (a slow one),
 * up answers again and drops whatever was held.
 */
export class FaultSwitch {
  #down = false;
  #hanging = false;
  readonly #held = new Set<IncomingMessage>();

  get down(): boolean {
    return this.#down;
  }

  /** Takes a request out of normal handling while down or hanging; true when it did. */
  intercept(req: IncomingMessage): boolean {
    if (this.#down) req.socket.destroy();
    else if (this.#hanging) this.#held.add(req);
    else return false;
    return true;
  }

  /** Applies `POST /__control/down|hang|up`; false for any other route. */
  control(route: string): boolean {
    if (route === "POST /__control/down") this.#down = true;
    else if (route === "POST /__control/hang") this.#hanging = true;
    else if (route === "POST /__control/up") this.up();
    else return false;
    return true;
  }

  /** Back to normal; held requests are dropped. */
  up(): void {
    this.#down = this.#hanging = false;
    for (const req of this.#held) req.socket.destroy();
    this.#held.clear();
  }
}
