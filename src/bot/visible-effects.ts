import type { Middleware } from "grammy";
import type { Update } from "grammy/types";
import type { BotContext } from "./context.js";

/**
 * Remembers which updates already changed what the user sees (a message sent, edited, deleted…),
 * so that a failure after that point is not answered with a redelivery that would do it again.
 *
 * Reads (`get*`) do not count, nor does the one call that rides on the webhook response (grammY sends
 * the first call of a webhook-reply method that way): that call reaches Telegram only with the response.
 */
export class VisibleEffects {
  readonly #updates = new WeakSet<Update>();

  /** @param webhookReplyMethods the methods the bot may send as its webhook response. */
  constructor(private readonly webhookReplyMethods: ReadonlySet<string> = new Set()) {}

  /** True once a Bot API call made for this update has taken effect. */
  has(update: Update): boolean {
    return this.#updates.has(update);
  }

  /** Middleware that watches the update's own `ctx.api`; install it before any handler. */
  readonly middleware: Middleware<BotContext> = (ctx, next) => {
    let webhookReplyTaken = false;
    ctx.api.config.use(async (call, method, payload, signal) => {
      // grammY's rule (files aside, which the bot never sends); only the Worker has a webhook response.
      const ridesOnResponse = !webhookReplyTaken && this.webhookReplyMethods.has(method);
      if (ridesOnResponse) webhookReplyTaken = true;
      const result = await call(method, payload, signal);
      if (result.ok && !ridesOnResponse && !method.startsWith("get")) this.#updates.add(ctx.update);
      return result;
    });
    return next();
  };
}
