import type { Transformer } from "grammy";

const NOT_MODIFIED = /message is not modified/;

/**
 * Telegram refuses to edit a message into what it already shows (a second tap on the same button, a
 * redelivered update). The message then shows what the handler wanted, so the edit counts as done
 * instead of failing the update as a bug.
 */
export const unchangedEditSucceeds: Transformer = async (call, method, payload, signal) => {
  const response = await call(method, payload, signal);
  if (response.ok || !method.startsWith("edit") || response.error_code !== 400) return response;
  return NOT_MODIFIED.test(response.description) ? { ok: true, result: true as never } : response;
};
