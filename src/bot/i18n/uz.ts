import type { MessageKey } from "./en.js";

/** Uzbek (Latin) messages. */
export const uz: Record<MessageKey, string> = {
  start_greeting: "Assalomu alaykum, {name}! Bu MTT Pro boti. Imkoniyatlarni ko‘rish uchun /help yuboring.",
  link_success: "Tayyor: bu Telegram akkaunt MTT Pro akkauntingizga bog‘landi.",
  link_invalid: "Havola eskirgan yoki allaqachon ishlatilgan. MTT Pro’da yangisini yarating.",
  help: "Buyruqlar:\n{commands}",
  cmd_start: "Botni ishga tushirish",
  cmd_help: "Buyruqlar ro‘yxati",
  cmd_me: "Bog‘lanish holati",
  cmd_unlink: "MTT Pro akkauntini uzish",
  cmd_language: "Tilni tanlash",
  me_linked: "Telegram akkauntingiz MTT Pro #{webUserId} akkauntiga bog‘langan.",
  me_not_linked: "Telegram akkauntingiz hali bog‘lanmagan. MTT Pro’dagi havoladan foydalaning.",
  unlink_confirm: "Bu Telegram akkauntni MTT Pro akkauntidan uzasizmi?",
  unlink_yes: "Ha, uzish",
  unlink_no: "Bekor qilish",
  unlink_done: "Uzildi. MTT Pro bildirishnomalari endi bu yerga kelmaydi.",
  unlink_cancelled: "Hech narsa o‘zgarmadi.",
  unlink_not_linked: "Uzadigan narsa yo‘q.",
  language_choose: "Tilni tanlang:",
  language_set: "Til: o‘zbekcha.",
  hint: "Tushunmadim. Buyruqlarni ko‘rish uchun /help yuboring.",
  rate_limited: "Juda tez yozyapsiz. Biroz kuting.",
};
