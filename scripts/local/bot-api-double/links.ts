/** Whether Telegram keeps a link to this address: http(s), tg and ton, or a bare host (taken as http). */
export function isLinkableUrl(url: string): boolean {
  if (/^[a-z][a-z0-9+.-]*:/i.test(url)) return /^(https?:\/\/[^\s/]|tg:|ton:\/\/)/i.test(url);
  return /^[\w-]+(\.[\w-]+)+(:\d+)?([/?#]\S*)?$/.test(url);
}
