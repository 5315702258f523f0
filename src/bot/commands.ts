import type { MessageKey } from "./i18n/index.js";

/** The bot's commands, in menu order: /help prints them and set-webhook registers them. */
export const COMMANDS = [
  { command: "start", description: "cmd_start" },
  { command: "help", description: "cmd_help" },
  { command: "me", description: "cmd_me" },
  { command: "unlink", description: "cmd_unlink" },
  { command: "language", description: "cmd_language" },
] as const satisfies readonly { command: string; description: MessageKey }[];
