import { GrammyError, HttpError, type Api } from "grammy";
import { replyMarkupOf, type NotificationContent } from "./content.js";

/** How long one sendMessage may take before it counts as a network failure (and is retried). */
const SEND_TIMEOUT_MS = 10_000;

/** What Telegram made of one message. */
export type SendOutcome =
  | { kind: "sent"; messageId: number }
  /** 403: the user blocked the bot, or is deactivated, or the bot left the group. */
  | { kind: "blocked"; description: string }
  /** Any other 4xx: Telegram will refuse it again. */
  | { kind: "failed"; description: string }
  /** 429: try again after `retryAfter` seconds. */
  | { kind: "rate_limited"; retryAfter: number }
  /** 5xx, network, timeout: try again later. */
  | { kind: "unavailable"; description: string };

/** Sends notifications through the bot's Bot API client. */
export interface NotificationSender {
  /** Telegram's answer, classified; rejects only with what is not Telegram's answer (a bug). */
  send(chatId: string, content: NotificationContent): Promise<SendOutcome>;
}

/**
 * The sender over grammY's `api`. With `paidBroadcast` (a rate above Telegram's free 30/s) every
 * message carries `allow_paid_broadcast`, which Telegram charges for in Stars.
 */
export function telegramSender(api: Api, paidBroadcast: boolean): NotificationSender {
  return {
    async send(chatId, content) {
      try {
        const message = await api.sendMessage(
          Number(chatId),
          content.text,
          {
            ...(content.parseMode === undefined ? {} : { parse_mode: content.parseMode }),
            ...(content.disableNotification ? { disable_notification: true } : {}),
            ...(content.buttons === undefined ? {} : { reply_markup: replyMarkupOf(content.buttons) }),
            ...(paidBroadcast ? { allow_paid_broadcast: true } : {}),
          },
          // grammY types its signal as the abort-controller package's; the platform's is the same at runtime.
          AbortSignal.timeout(SEND_TIMEOUT_MS) as Parameters<Api["sendMessage"]>[3],
        );
        return { kind: "sent", messageId: message.message_id };
      } catch (error) {
        if (error instanceof GrammyError) {
          if (error.error_code === 429) return { kind: "rate_limited", retryAfter: error.parameters.retry_after ?? 1 };
          if (error.error_code === 403) return { kind: "blocked", description: error.description };
          if (error.error_code < 500) return { kind: "failed", description: error.description };
          return { kind: "unavailable", description: `${error.error_code}: ${error.description}` };
        }
        if (error instanceof HttpError) return { kind: "unavailable", description: "telegram_unreachable" };
        throw error;
      }
    },
  };
}
