import type { Middleware } from "grammy";
import type { Update } from "grammy/types";
import type { BotContext } from "./context.js";

/**
 * Remembers which updates already changed what the user sees (a message sent, edited, deleted…),
 * so that a failure after that point is not answered with a redelivery that would do it again.
 *
 * Reads (`get*`) do not count, nor do methods that may ride on the webhook response: a failed
 * update's response is an error, so such a call never reaches Telegram.
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
    ctx.api.config.use(async (call, method, payload, signal) => {
      const result = await call(method, payload, signal);
      if (result.ok && !method.startsWith("get") && !this.webhookReplyMethods.has(method)) {
        this.#updates.add(ctx.update);
      }
      return result;
    });
    return next();
  };
}
