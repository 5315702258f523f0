import type { Db, Statement } from "../clients/db.js";

/** A Telegram account as stored in `telegram_accounts`. */
export interface TelegramAccount {
  telegram_user_id: string;
  chat_id: string;
  username: string | null;
  first_name: string;
  last_name: string | null;
  language_code: string | null;
  web_user_id: string | null;
  is_blocked: boolean;
}

/** The Telegram facts an account is made from. */
export interface TelegramProfile {
  userId: number;
  chatId: number;
  username: string | undefined;
  firstName: string;
  lastName: string | undefined;
  languageCode: string | undefined;
}

function upsertStatement(profile: TelegramProfile, blocked: boolean): Statement {
  return {
    text: `INSERT INTO telegram_accounts
             (telegram_user_id, chat_id, username, first_name, last_name, language_code, is_blocked)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (telegram_user_id) DO UPDATE SET
             chat_id = EXCLUDED.chat_id, username = EXCLUDED.username, first_name = EXCLUDED.first_name,
             last_name = EXCLUDED.last_name, language_code = EXCLUDED.language_code,
             is_blocked = EXCLUDED.is_blocked, updated_at = now()`,
    params: [
      profile.userId,
      profile.chatId,
      profile.username ?? null,
      profile.firstName,
      profile.lastName ?? null,
      profile.languageCode ?? null,
      blocked,
    ],
  };
}

/** Reads and writes `telegram_accounts`. */
export class AccountRepository {
  constructor(private readonly db: Db) {}

  /** Creates or refreshes the account; talking to the bot means it is not blocked. */
  async upsert(profile: TelegramProfile, options: { blocked?: boolean } = {}): Promise<void> {
    const { text, params } = upsertStatement(profile, options.blocked ?? false);
    await this.db.query(text, params);
  }

  /** Creates or refreshes the account and links it to a web account, in one transaction. */
  async upsertAndLink(profile: TelegramProfile, webUserId: number): Promise<void> {
    await this.db.transaction([
      upsertStatement(profile, false),
      {
        text: `UPDATE telegram_accounts SET web_user_id = $2, linked_at = now(), updated_at = now()
               WHERE telegram_user_id = $1`,
        params: [profile.userId, webUserId],
      },
    ]);
  }

  async find(telegramUserId: number): Promise<TelegramAccount | undefined> {
    const rows = await this.db.query<TelegramAccount>(
      `SELECT telegram_user_id, chat_id, username, first_name, last_name, language_code, web_user_id, is_blocked
       FROM telegram_accounts WHERE telegram_user_id = $1`,
      [telegramUserId],
    );
    return rows[0];
  }

  /** Removes the link, if there is one. */
  async unlink(telegramUserId: number): Promise<void> {
    await this.db.query(
      `UPDATE telegram_accounts SET web_user_id = NULL, linked_at = NULL, updated_at = now()
       WHERE telegram_user_id = $1 AND web_user_id IS NOT NULL`,
      [telegramUserId],
    );
  }

  /** Marks the account of a private chat blocked (the user blocked the bot) or not. */
  async setBlockedByChat(chatId: number, blocked: boolean): Promise<void> {
    await this.db.query(`UPDATE telegram_accounts SET is_blocked = $2, updated_at = now() WHERE chat_id = $1`, [
      chatId,
      blocked,
    ]);
  }

  /** Chats that notifications for a web account go to: linked and not blocked. */
  async notifiableChats(webUserId: number): Promise<string[]> {
    const rows = await this.db.query<{ chat_id: string }>(
      `SELECT chat_id FROM telegram_accounts WHERE web_user_id = $1 AND NOT is_blocked ORDER BY telegram_user_id`,
      [webUserId],
    );
    return rows.map((row) => row.chat_id);
  }
}
