import { Composer, type Context } from "grammy";
import type { BotContext } from "../context.js";
import type { SlidingWindowRateLimiter } from "../rate-limiter.js";

/**
 * The user an update counts against, if any: only what a user sends is limited, and blocking or
 * unblocking the bot must always be recorded.
 */
export function rateLimitedUserOf(ctx: Context): number | undefined {
  return ctx.myChatMember === undefined ? ctx.from?.id : undefined;
}

/**
 * Per-user rate limit on messages and button presses: over the limit, the user is told once per window
 * and then ignored until the window passes (a pressed button is still answered, with the warning).
 * @param limiter the limiter; undefined turns the limit off.
 */
export function rateLimit(limiter: SlidingWindowRateLimiter | undefined): Composer<BotContext> {
  const feature = new Composer<BotContext>();
  if (limiter === undefined) return feature;
  feature.use(async function limitPerUser(ctx, next) {
    const userId = rateLimitedUserOf(ctx);
    if (userId === undefined) return next();
    const verdict = await limiter.limit(ctx.update, userId);
    if (verdict === "allowed") return next();
    // A pressed button spins until answered, so it always gets the warning as a toast.
    if (ctx.callbackQuery !== undefined) return void (await ctx.answerCallbackQuery({ text: ctx.t("rate_limited") }));
    if (verdict === "limited_first" && ctx.chat !== undefined) await ctx.reply(ctx.t("rate_limited"));
  });
  return feature;
}
