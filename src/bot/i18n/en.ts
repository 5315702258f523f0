/** English messages; the other locales must have the same keys. */
export const en = {
  start_greeting: "Hello, {name}! This is the MTT Pro bot. Send /help to see what I can do.",
  link_success: "Done: this Telegram account is now linked to your MTT Pro account.",
  link_invalid: "This link has expired or was already used. Open MTT Pro and create a new one.",
  link_replace_confirm: "This Telegram account is linked to MTT Pro account #{current}. Link it to account #{next}?",
  link_replace_yes: "Link to #{next}",
  link_replace_no: "Keep #{current}",
  link_replaced: "Done: this Telegram account is now linked to MTT Pro account #{webUserId}.",
  link_kept: "Nothing changed: this Telegram account stays linked to MTT Pro account #{webUserId}.",
  help: "Commands:\n{commands}",
  cmd_start: "Start the bot",
  cmd_help: "List the commands",
  cmd_me: "Show your link status",
  cmd_unlink: "Unlink your MTT Pro account",
  cmd_language: "Choose the language",
  me_linked: "Your Telegram account is linked to MTT Pro account #{webUserId}.",
  me_not_linked: "Your Telegram account is not linked yet. Use the link in MTT Pro to connect it.",
  unlink_confirm: "Unlink this Telegram account from your MTT Pro account?",
  unlink_yes: "Yes, unlink",
  unlink_no: "Cancel",
  unlink_done: "Unlinked. You will no longer get MTT Pro notifications here.",
  nothing_changed: "Nothing changed.",
  unlink_not_linked: "There is nothing to unlink.",
  language_choose: "Choose a language:",
  language_set: "Language: English.",
  hint: "I did not understand that. Send /help to see the commands.",
  rate_limited: "You are sending messages too fast. Please wait a moment.",
} as const;

/** A message key shared by every locale. */
export type MessageKey = keyof typeof en;
