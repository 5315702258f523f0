-- Telegram accounts that talked to the bot, and the MTT Pro web account each is linked to.
CREATE TABLE telegram_accounts (
  telegram_user_id BIGINT PRIMARY KEY,
  chat_id          BIGINT      NOT NULL,
  username         TEXT,
  first_name       TEXT        NOT NULL,
  last_name        TEXT,
  language_code    TEXT,
  web_user_id      BIGINT,
  linked_at        TIMESTAMPTZ,
  is_blocked       BOOLEAN     NOT NULL DEFAULT FALSE,
  created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The notify API looks accounts up by the web account they are linked to.
CREATE INDEX telegram_accounts_web_user_id_idx ON telegram_accounts (web_user_id) WHERE web_user_id IS NOT NULL;
