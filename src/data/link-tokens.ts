import type { Redis } from "../clients/redis.js";

/** How long a link token lives. */
export const LINK_TOKEN_TTL_SECONDS = 15 * 60;

function linkTokenKey(token: string): string {
  return `bot:link-token:${token}`;
}

/** Marks the token as redeemed by ARGV[1], unless another user redeemed it; returns its web account. */
const REDEEM = `
local stored = redis.call("GET", KEYS[1])
if not stored then return nil end
local token = cjson.decode(stored)
if token.redeemedBy and tostring(token.redeemedBy) ~= ARGV[1] then return nil end
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
    const token = btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    await this.redis.set(linkTokenKey(token), { webUserId }, { ex: LINK_TOKEN_TTL_SECONDS });
    return { token, webUserId, expiresAt: new Date(Date.now() + LINK_TOKEN_TTL_SECONDS * 1000) };
  }

  /**
   * Redeems a live token for one Telegram user, atomically: the first user to redeem it owns it, and
   * only that user can redeem it again (a redelivered update after a failure), until it expires.
   * @returns the web account to link, or undefined for an unknown, expired or someone else's token.
   */
  async redeem(token: string, telegramUserId: number): Promise<number | undefined> {
    const webUserId = await this.redis.eval<[string], number | null>(REDEEM, [linkTokenKey(token)], [String(telegramUserId)]);
    return webUserId ?? undefined;
  }
}
