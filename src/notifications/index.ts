import type { Api } from "grammy";
import type { Db } from "../clients/db.js";
import type { WorkerConfig } from "../config.js";
import type { AccountRepository } from "../data/accounts.js";
import type { Logger } from "../lib/logger.js";
import { consumeNotifications, type ConsumerDeps } from "./consumer.js";
import type { DirectDeps } from "./direct.js";
import type { QueueMessageBody } from "./messages.js";
import type { NotificationPacer } from "./pacer.js";
import type { ProducerDeps } from "./producer.js";
import { telegramSender } from "./send.js";
import { NotificationStore } from "./store.js";

/** Telegram's free broadcast rate; above it every notification is a paid broadcast. */
const FREE_RATE = 30;

/** The bindings notifications run on (wrangler.toml). */
export interface NotificationBindings {
  NOTIFICATIONS: Queue<QueueMessageBody>;
  NOTIFICATION_PACER: DurableObjectNamespace<NotificationPacer>;
}

/** What one request or queue invocation works with. */
export type NotificationDeps = ProducerDeps & DirectDeps & ConsumerDeps;

/** The notification capability of an isolate. */
export interface Notifications {
  /** The dependencies for one request or invocation (a Durable Object stub belongs to the request that made it). */
  forRequest(): NotificationDeps;
  /** The queue handler. */
  consume(batch: MessageBatch<unknown>): Promise<void>;
}

/** Wires notifications to the isolate's clients and the Worker's bindings. */
export function createNotifications(options: {
  config: WorkerConfig;
  db: Db;
  api: Api;
  accounts: AccountRepository;
  logger: Logger;
  bindings: NotificationBindings;
}): Notifications {
  const { config, db, api, accounts, logger, bindings } = options;
  // One pacer per bot, named after the token's numeric part (the bot's id).
  const pacerName = `bot:${config.botToken.split(":")[0] ?? ""}`;
  const shared = {
    store: new NotificationStore(db),
    queue: bindings.NOTIFICATIONS,
    sender: telegramSender(api, config.sendRate > FREE_RATE),
    accounts,
    logger,
    rate: config.sendRate,
  };
  // Bindings are looked up per use, so a Worker run without them (a benchmark's) still serves everything else.
  const forRequest = (): NotificationDeps => {
    const namespace = bindings.NOTIFICATION_PACER;
    return { ...shared, pacer: namespace.get(namespace.idFromName(pacerName)) };
  };
  return { forRequest, consume: (batch) => consumeNotifications(batch, forRequest()) };
}
