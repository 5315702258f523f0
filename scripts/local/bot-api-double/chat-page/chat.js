// The chat page: plays Telegram users against the Bot API double (its JSON API under /__chat/).
// Everything that came from the bot or a user is put on the page as text (textContent, Text nodes).
import { renderFormatted, safeHref } from "./render.js";

const $ = (id) => document.getElementById(id);
const MEDIA = ["photo", "document", "video", "audio", "voice", "animation", "sticker"];

const page = {
  overview: undefined,
  userId: Number(localStorage.getItem("chat-page.user")) || undefined,
  chatId: Number(localStorage.getItem("chat-page.chat")) || undefined,
};

async function api(path, body) {
  const init = body === undefined ? {} : { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) };
  const response = await fetch(path, init);
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.error ?? `HTTP ${response.status}`);
  return answer;
}

function showError(error) {
  $("error").textContent = error === undefined ? "" : error instanceof Error ? error.message : String(error);
}

/** Runs a page action; its failure is shown in one line above the messages. */
async function act(action) {
  showError();
  try {
    return await action();
  } catch (error) {
    showError(error);
    return undefined;
  }
}

const currentUser = () => page.overview?.users.find((user) => user.id === page.userId);
const currentChat = () => page.overview?.chats.find((chat) => chat.id === page.chatId);
const bot = () => page.overview?.bot ?? {};

function select(userId, chatId) {
  page.userId = userId;
  page.chatId = chatId ?? userId;
  localStorage.setItem("chat-page.user", String(page.userId));
  localStorage.setItem("chat-page.chat", String(page.chatId));
  void loadOverview();
}

/** Runs `load` once at a time; a request while it runs makes it run once more afterwards. */
function coalesced(load) {
  let running;
  let again = false;
  return () => {
    if (running !== undefined) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        await load();
      } while (again);
    })().finally(() => (running = undefined));
    return running;
  };
}

/** Users, chats, delivery mode and commands; the open chat's log too unless `withLog` is false. */
const refreshOverview = async (withLog) => {
  const language = currentUser()?.language_code ?? "";
  const query = new URLSearchParams({ chat: String(page.chatId ?? 0), language });
  page.overview = await api(`/__chat/state?${query}`);
  const users = page.overview.users;
  if (users.length > 0 && !users.some((user) => user.id === page.userId)) {
    page.userId = users[0].id;
    page.chatId = users[0].id;
  }
  if (!page.overview.chats.some((chat) => chat.id === page.chatId)) page.chatId = page.userId;
  renderSidebar();
  renderHeader();
  if (withLog) await loadLog();
};
const loadOverview = coalesced(() => refreshOverview(true));

const loadLog = coalesced(async () => {
  if (currentChat() === undefined) return renderLog([]);
  renderLog(await api(`/__chat/chats/${page.chatId}/log`));
});

function renderSidebar() {
  const { users, chats } = page.overview;
  const userSelect = $("user-select");
  userSelect.replaceChildren(
    ...users.map((user) => {
      const option = document.createElement("option");
      option.value = String(user.id);
      option.textContent = `${user.first_name}${user.username ? ` @${user.username}` : ""} · ${user.id} · ${user.language_code}`;
      option.selected = user.id === page.userId;
      return option;
    }),
  );
  $("new-user").open = users.length === 0;

  $("chat-list").replaceChildren(
    ...chats.map((chat) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = chat.type === "private" ? `${chat.first_name ?? chat.id} ↔ ${bot().first_name}` : `${chat.title ?? chat.id} (group)`;
      if (chat.blocked) {
        const mark = document.createElement("span");
        mark.className = "blocked";
        mark.textContent = "blocked";
        button.append(mark);
      }
      button.setAttribute("aria-current", String(chat.id === page.chatId));
      button.addEventListener("click", () => {
        const owner = chat.type === "private" && users.some((user) => user.id === chat.id) ? chat.id : page.userId;
        select(owner, chat.id);
      });
      item.append(button);
      return item;
    }),
  );

  const delivery = page.overview.delivery;
  $("delivery-mode").textContent =
    delivery.mode === "webhook"
      ? `webhook → ${delivery.url}`
      : delivery.mode === "polling"
        ? "getUpdates: a polling bot fetches the updates"
        : "nobody takes updates yet: they wait for `npm run dev` (webhook) or `npm run polling`";
}

function renderHeader() {
  const chat = currentChat();
  const user = currentUser();
  const private_ = chat?.type === "private";
  $("chat-title").textContent = chat === undefined ? "Create a user to start" : private_ ? bot().first_name : chat.title ?? String(chat.id);
  $("chat-subtitle").textContent =
    chat === undefined ? "" : `${private_ ? `@${bot().username}` : `group with @${bot().username}`} · you are ${user?.first_name ?? "?"} (id ${user?.id ?? "?"})`;
  const blockButton = $("block-button");
  blockButton.hidden = !private_;
  blockButton.textContent = chat?.blocked ? "Unblock bot" : "Block bot";
  blockButton.className = chat?.blocked ? "unblock" : "block";
  $("deep-link-form").hidden = !private_ || chat?.blocked;
  $("deep-link-form").elements.link.placeholder = `https://t.me/${bot().username}?start=…, or just the payload`;
  $("blocked-note").hidden = !chat?.blocked;
  for (const element of $("composer").elements) element.disabled = chat === undefined || Boolean(chat.blocked);
  renderCommandMenu();
}

function renderCommandMenu() {
  const commands = page.overview?.commands ?? [];
  $("commands-button").hidden = commands.length === 0;
  $("command-menu").replaceChildren(
    ...commands.map(({ command, description }) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = `/${command}`;
      const text = document.createElement("span");
      text.className = "description";
      text.textContent = description;
      button.append(text);
      button.addEventListener("click", () => {
        toggleCommandMenu(false);
        void sendCommand(`/${command}`);
      });
      item.append(button);
      return item;
    }),
  );
}

function toggleCommandMenu(open) {
  $("command-menu").hidden = !open;
  $("commands-button").setAttribute("aria-expanded", String(open));
}

function sendText(text) {
  return act(() => api("/__chat/messages", { user_id: page.userId, chat_id: page.chatId, text }));
}

/** A command as a client sends it: addressed to the bot by name in a group. */
function sendCommand(command) {
  const addressed = currentChat()?.type !== "private" && !command.includes("@") ? `${command}@${bot().username}` : command;
  return sendText(addressed);
}

function followDeepLink(link) {
  return act(() => api("/__chat/deep-links", { user_id: page.userId, link }));
}

/** A t.me link to this bot with a start payload is followed here, as Telegram follows it. */
function openLink(href) {
  const url = new URL(href);
  const toThisBot = /^(www\.)?t\.me$/i.test(url.hostname) && url.pathname.replace(/^\//, "").toLowerCase() === String(bot().username).toLowerCase();
  if (!toThisBot || !url.searchParams.has("start")) return false;
  void followDeepLink(href);
  return true;
}

const textActions = { command: (text) => void sendCommand(text), openLink };

function deliveryElement(view) {
  const span = document.createElement("span");
  if (view === undefined) return span;
  span.className = `delivery ${view.state}`;
  span.textContent = view.text;
  span.title = view.history.join("\n");
  return span;
}

function keyboardElement(message) {
  const rows = message.reply_markup?.inline_keyboard;
  if (!Array.isArray(rows)) return undefined;
  const keyboard = document.createElement("div");
  keyboard.className = "keyboard";
  for (const row of rows) {
    const line = document.createElement("div");
    line.className = "row";
    for (const spec of row) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = String(spec.text ?? "");
      if (typeof spec.callback_data === "string") {
        button.addEventListener("click", async () => {
          button.classList.add("pending");
          const pressed = await act(() =>
            api("/__chat/callbacks", { user_id: page.userId, chat_id: page.chatId, message_id: message.message_id, data: spec.callback_data }),
          );
          if (pressed === undefined) button.classList.remove("pending");
          // Telegram's clients give up waiting for the answer after about 15 s.
          setTimeout(() => button.classList.remove("pending"), 15_000);
        });
      } else if (typeof spec.url === "string" && safeHref(spec.url) !== undefined) {
        const href = safeHref(spec.url);
        button.title = href;
        button.addEventListener("click", () => {
          if (!openLink(href)) window.open(href, "_blank", "noopener,noreferrer");
        });
      } else {
        button.disabled = true;
        button.title = "this kind of button is not played by the local chat page";
      }
      line.append(button);
    }
    keyboard.append(line);
  }
  return keyboard;
}

function entryElement(entry, chat) {
  const item = document.createElement("li");
  item.className = `entry ${entry.side}`;
  if (entry.update_id !== undefined) item.dataset.updateId = String(entry.update_id);
  if (entry.side === "event") {
    const text = document.createElement("span");
    text.textContent = entry.text;
    item.append(text, " ", deliveryElement(entry.delivery));
    return item;
  }
  const message = entry.message;
  item.dataset.messageId = String(message.message_id);
  const bubble = document.createElement("div");
  bubble.className = "bubble";
  if (chat.type !== "private" && entry.side === "user") {
    const sender = document.createElement("div");
    sender.className = "sender";
    sender.textContent = String(message.from?.first_name ?? "");
    bubble.append(sender);
  }
  for (const kind of MEDIA.filter((key) => key in message)) {
    const media = document.createElement("div");
    media.className = "media";
    media.textContent = `[${kind}]`;
    bubble.append(media);
  }
  const body = typeof message.text === "string" ? message.text : typeof message.caption === "string" ? message.caption : "";
  if (body !== "") {
    const text = document.createElement("div");
    text.className = "text";
    text.append(renderFormatted(body, message.entities ?? message.caption_entities, textActions));
    bubble.append(text);
  }
  const keyboard = keyboardElement(message);
  if (keyboard !== undefined) bubble.append(keyboard);
  const meta = document.createElement("div");
  meta.className = "meta";
  if (message.edit_date !== undefined) {
    const edited = document.createElement("span");
    edited.className = "edited";
    edited.textContent = "edited";
    meta.append(edited);
  }
  const time = document.createElement("time");
  time.dateTime = new Date(message.date * 1000).toISOString();
  time.textContent = new Date(message.date * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  meta.append(time, deliveryElement(entry.delivery));
  bubble.append(meta);
  item.append(bubble);
  return item;
}

function renderLog(entries) {
  if (entries.at(-1)?.side === "bot") $("typing").hidden = true;
  const log = $("log");
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 80;
  const chat = currentChat();
  log.replaceChildren(...(chat === undefined ? [] : entries.map((entry) => entryElement(entry, chat))));
  if (atBottom) log.scrollTop = log.scrollHeight;
}

function showToast(text) {
  const toast = document.createElement("div");
  toast.className = "toast";
  toast.textContent = text;
  $("toasts").append(toast);
  setTimeout(() => toast.remove(), 4000);
}

function showAlert(text) {
  $("alert-text").textContent = text;
  if (!$("alert").open) $("alert").showModal();
}

let typingTimer;
/** A chat action lasts 5 s or until the bot's next message, as in Telegram's clients. */
function showTyping(action) {
  $("typing").textContent = action === "typing" ? `${bot().first_name} is typing…` : `${bot().first_name}: ${action.replaceAll("_", " ")}…`;
  $("typing").hidden = false;
  clearTimeout(typingTimer);
  typingTimer = setTimeout(() => ($("typing").hidden = true), 5000);
}

function onEvent(event) {
  if (event.type === "world") return void loadOverview();
  if (event.chat_id !== page.chatId) return;
  if (event.type === "chat") return void loadLog();
  if (event.type === "action") return showTyping(event.action);
  if (event.type === "toast") {
    for (const button of document.querySelectorAll(".keyboard button.pending")) button.classList.remove("pending");
    if (event.text === "") return;
    if (event.show_alert) showAlert(event.text);
    else showToast(event.text);
  }
}

$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("message-input");
  const text = input.value.trim();
  if (text === "") return;
  void sendText(text).then((sent) => {
    if (sent !== undefined) input.value = "";
  });
});
$("commands-button").addEventListener("click", () => toggleCommandMenu($("command-menu").hidden));
$("deep-link-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = event.target.elements.link;
  void followDeepLink(input.value).then((sent) => {
    if (sent !== undefined) input.value = "";
  });
});
$("block-button").addEventListener("click", () => {
  void act(() => api("/__chat/blocks", { user_id: page.userId, blocked: !currentChat()?.blocked }));
});
$("user-select").addEventListener("change", (event) => select(Number(event.target.value)));
$("user-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const fields = Object.fromEntries(new FormData(event.target));
  const user = await act(() => api("/__chat/users", fields));
  if (user !== undefined) {
    $("new-user").open = false;
    select(user.id);
  }
});
$("group-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const group = await act(() => api("/__chat/groups", { user_id: page.userId, title: form.elements.title.value }));
  if (group !== undefined) {
    form.reset();
    select(page.userId, group.id);
  }
});
$("alert-ok").addEventListener("click", () => $("alert").close());

new EventSource("/__chat/events").addEventListener("message", (event) => onEvent(JSON.parse(event.data)));
// Whether a bot polls shows only in its calls; look again now and then.
setInterval(() => void refreshOverview(false).catch(showError), 5000);
void loadOverview();
