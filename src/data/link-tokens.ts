import type { Redis } from "../clients/redis.js";

/** How long a link token lives. */
export const LINK_TOKEN_TTL_SECONDS = 15 * 60;

function linkTokenKey(token: string): string {
  return `bot:link-token:${token}`;
}

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

  /** The web account a live token belongs to, without using it up. */
  async peek(token: string): Promise<number | undefined> {
    const value = await this.redis.get<{ webUserId: number }>(linkTokenKey(token));
    return value?.webUserId;
  }

  /** Uses the token up, after the link is stored, so a failed link can be retried with the same token. */
  async consume(token: string): Promise<void> {
    await this.redis.del(linkTokenKey(token));
  }
}
