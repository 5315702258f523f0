import { encodeBase64Url } from "hono/utils/encode";
import type { Redis } from "../clients/redis.js";

/** How long a link token lives. */
const LINK_TOKEN_TTL_SECONDS = 15 * 60;

function linkTokenKey(token: string): string {
  return `bot:link-token:${token}`;
}

/** Which delivery redeemed the token; a key of its own, so the token's JSON is never decoded and re-encoded in Lua. */
function redemptionKey(token: string): string {
  return `bot:link-token:${token}:redeemed-by`;
}

/**
 * Returns the stored token unless a delivery other than ARGV[1] redeemed it; with ARGV[2] = "redeem",
 * ARGV[1] becomes its redeemer. The JSON is returned as stored: Lua's cjson keeps only 14 significant
 * digits, which would turn a web user id into another one.
 */
const REDEEM = `
local stored = redis.call("GET", KEYS[1])
if not stored then return nil end
local redeemer = redis.call("GET", KEYS[2])
if redeemer and redeemer ~= ARGV[1] then return nil end
if ARGV[2] == "redeem" and not redeemer then
  redis.call("SET", KEYS[2], ARGV[1], "PX", math.max(redis.call("PTTL", KEYS[1]), 1))
end
return stored`;

/** A one-time token that links a Telegram account to a web account. */
export interface LinkToken {
  token: string;
  webUserId: number;
  expiresAt: Date;
}

/** Who presents a token: the Telegram user and the update that carries it. */
export interface Redeemer {
  telegramUserId: number;
  updateId: number;
}

/** Stored as a decimal string: every id up to 2^53 - 1 reads back exactly, whatever decodes it. */
interface StoredToken {
  webUserId: string;
}

function webUserIdOf(stored: StoredToken | null): number | undefined {
  const webUserId = Number(stored?.webUserId);
  return Number.isSafeInteger(webUserId) && webUserId > 0 ? webUserId : undefined;
}

/** One-time link tokens in Redis. */
export class LinkTokenStore {
  constructor(private readonly redis: Redis) {}

  /** Issues a token for the web account; 24 random bytes, URL-safe, fits a /start payload. */
  async issue(webUserId: number): Promise<LinkToken> {
    const bytes = crypto.getRandomValues(new Uint8Array(24));
    const token = encodeBase64Url(bytes.buffer);
    const stored: StoredToken = { webUserId: String(webUserId) };
    await this.redis.set(linkTokenKey(token), stored, { ex: LINK_TOKEN_TTL_SECONDS });
    return { token, webUserId, expiresAt: new Date(Date.now() + LINK_TOKEN_TTL_SECONDS * 1000) };
  }

  /**
   * The web account of a live token that `redeemer` may still redeem, without redeeming it.
   * @returns undefined for an unknown, expired or already used token.
   */
  async peek(token: string, redeemer: Redeemer): Promise<number | undefined> {
    return this.run(token, redeemer, "peek");
  }

  /**
   * Redeems a live token, atomically and once: the update that first redeems it owns it, and only a
   * redelivery of that same update (after a failure further on) can redeem it again, until it expires.
   * @returns the web account to link, or undefined for an unknown, expired or already used token.
   */
  async redeem(token: string, redeemer: Redeemer): Promise<number | undefined> {
    return this.run(token, redeemer, "redeem");
  }

  private async run(token: string, redeemer: Redeemer, mode: "peek" | "redeem"): Promise<number | undefined> {
    const delivery = `${redeemer.telegramUserId}:${redeemer.updateId}`;
    const keys = [linkTokenKey(token), redemptionKey(token)];
    return webUserIdOf(await this.redis.eval<[string, string], StoredToken | null>(REDEEM, keys, [delivery, mode]));
  }
}
