import { encodeBase64Url } from "hono/utils/encode";
import type { Redis } from "../clients/redis.js";

/** How long a link token lives. */
const LINK_TOKEN_TTL_SECONDS = 15 * 60;

function linkTokenKey(token: string): string {
  return `bot:link-token:${token}`;
}

/** Marks the token as redeemed by the delivery ARGV[1], unless another one did; returns its web account. */
const REDEEM = `
local stored = redis.call("GET", KEYS[1])
if not stored then return nil end
local token = cjson.decode(stored)
if token.redeemedBy and token.redeemedBy ~= ARGV[1] then return nil end
token.redeemedBy = ARGV[1]
redis.call("SET", KEYS[1], cjson.encode(token), "KEEPTTL")
return token.webUserId`;

/** A one-time token that links a Telegram account to a web account. */
export interface LinkToken {
  token: string;
  webUserId: number;
  expiresAt: Date;
}

/** One-time link tokens in Redis. */
export class LinkTokenStore {
  constructor(private readonly redis: Redis) {}

  /** Issues a token for the web account; 24 random bytes, URL-safe, fits a /start payload. */
  async issue(webUserId: number): Promise<LinkToken> {
    const bytes = crypto.getRandomValues(new Uint8Array(24));
    const token = encodeBase64Url(bytes.buffer);
    await this.redis.set(linkTokenKey(token), { webUserId }, { ex: LINK_TOKEN_TTL_SECONDS });
    return { token, webUserId, expiresAt: new Date(Date.now() + LINK_TOKEN_TTL_SECONDS * 1000) };
  }

  /**
   * Redeems a live token, atomically and once: the update that first redeems it owns it, and only a
   * redelivery of that same update (after a failure further on) can redeem it again, until it expires.
   * @returns the web account to link, or undefined for an unknown, expired or already used token.
   */
  async redeem(token: string, redeemer: { telegramUserId: number; updateId: number }): Promise<number | undefined> {
    const delivery = `${redeemer.telegramUserId}:${redeemer.updateId}`;
    const webUserId = await this.redis.eval<[string], number | null>(REDEEM, [linkTokenKey(token)], [delivery]);
    return webUserId ?? undefined;
  }
}
