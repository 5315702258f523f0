import { Ratelimit } from "@upstash/ratelimit";
import { Composer } from "grammy";
import type { Redis } from "../../clients/redis.js";
import type { BotContext } from "../context.js";

const WINDOW_SECONDS = 60;
/** Identifiers known to be over the limit, kept per isolate so repeat offenders cost no round trip. */
const blockedCache = new Map<string, number>();

/**
 * Per-user rate limit with `@upstash/ratelimit` on messages and button presses: over the limit, the
 * user is told once per window and then ignored until the window passes (a pressed button is still
 * answered, with the warning).
 * @param redis the Upstash client.
 * @param updatesPerMinute updates one user may send per minute; 0 turns the limit off.
 */
export function rateLimit(redis: Redis, updatesPerMinute: number): Composer<BotContext> {
  const feature = new Composer<BotContext>();
  if (updatesPerMinute === 0) return feature;
  const limiter = new Ratelimit({
    redis,
    limiter: Ratelimit.slidingWindow(updatesPerMinute, `${WINDOW_SECONDS} s`),
    prefix: "bot:ratelimit",
    ephemeralCache: blockedCache,
    analytics: false,
  });
  feature.use(async function limitPerUser(ctx, next) {
    const userId = ctx.from?.id;
    // Only what a user sends is limited: blocking or unblocking the bot must always be recorded.
    if (userId === undefined || ctx.myChatMember !== undefined) return next();
    const { success } = await limiter.limit(String(userId));
    if (success) return next();
    // A pressed button spins until answered, so it always gets the warning as a toast.
    if (ctx.callbackQuery !== undefined) return void (await ctx.answerCallbackQuery({ text: ctx.t("rate_limited") }));
    if (ctx.chat === undefined) return;
    const firstWarning = await redis.set(`bot:ratelimit-warned:${userId}`, 1, { nx: true, ex: WINDOW_SECONDS });
    if (firstWarning !== null) await ctx.reply(ctx.t("rate_limited"));
  });
  return feature;
}
