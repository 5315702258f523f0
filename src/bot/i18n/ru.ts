import type { MessageKey } from "./en.js";

/** Russian messages. */
export const ru: Record<MessageKey, string> = {
  start_greeting: "Здравствуйте, {name}! Это бот MTT Pro. Отправьте /help, чтобы увидеть, что я умею.",
  link_success: "Готово: этот аккаунт Telegram привязан к вашему аккаунту MTT Pro.",
  link_invalid: "Ссылка устарела или уже использована. Откройте MTT Pro и создайте новую.",
  help: "Команды:\n{commands}",
  cmd_start: "Запустить бота",
  cmd_help: "Список команд",
  cmd_me: "Статус привязки",
  cmd_unlink: "Отвязать аккаунт MTT Pro",
  cmd_language: "Выбрать язык",
  me_linked: "Ваш Telegram привязан к аккаунту MTT Pro #{webUserId}.",
  me_not_linked: "Ваш Telegram ещё не привязан. Воспользуйтесь ссылкой в MTT Pro.",
  unlink_confirm: "Отвязать этот аккаунт Telegram от аккаунта MTT Pro?",
  unlink_yes: "Да, отвязать",
  unlink_no: "Отмена",
  unlink_done: "Аккаунт отвязан. Уведомления MTT Pro сюда больше не придут.",
  unlink_cancelled: "Ничего не изменилось.",
  unlink_not_linked: "Нечего отвязывать.",
  language_choose: "Выберите язык:",
  language_set: "Язык: русский.",
  hint: "Я не понял сообщение. Отправьте /help, чтобы увидеть команды.",
  rate_limited: "Вы отправляете сообщения слишком часто. Подождите немного.",
};
