import { createBot } from "../src/bot/index.js";
import { ALLOWED_UPDATES } from "../src/bot/allowed-updates.js";
import { createDb } from "../src/clients/db.js";
import { createRedis } from "../src/clients/redis.js";
import { parseBotConfig, secretsOf } from "../src/config.js";
import { createLogger, errorFields } from "../src/lib/logger.js";
import { CliError, createProgram, loadDevVars, runProgram, wholeNumber } from "./lib/cli.js";
import { CHAT_PAGE_PORT, LOCAL_DEFAULTS, startLocalServices } from "./lib/local-services.js";
import { retryAfterOnce } from "./lib/telegram.js";

const program = createProgram("polling", "Run the bot with long polling in Node: the same handlers, sessions and database as the Worker.")
  .option("--force", "delete the bot's webhook first (this takes the production webhook down)")
  .option("--bot-api-port <port>", "port of the local Bot API double and its chat page, when no bot token is set (0 = any free port)", wholeNumber(0, 65535), CHAT_PAGE_PORT)
  .action(async (options: { force?: boolean; botApiPort: number }) => {
    loadDevVars();
    const local = await startLocalServices(process.env, { ...LOCAL_DEFAULTS, ports: { ...LOCAL_DEFAULTS.ports, botApi: options.botApiPort } });
    Object.assign(process.env, local.vars);
    if (local.chatPageUrl !== undefined) console.log(`polling: chat with the bot at ${local.chatPageUrl}`);
    if (local.started.length > 0) console.log(`polling: started ${local.started.join("; ")}`);

    const config = parseBotConfig(process.env);
    const logger = createLogger(secretsOf(config));
    const bot = createBot({ config, redis: createRedis(config.redis), db: createDb(config.database), logger });
    bot.api.config.use(retryAfterOnce, async (prev, method, payload, signal) => {
      // grammY's loop waits out a longer 429 on getUpdates (3 s when Telegram names no time) without a
      // word: say why nothing happens.
      const result = await prev(method, payload, signal);
      if (method === "getUpdates" && !result.ok && result.error_code === 429 && !signal?.aborted) {
        console.log(`polling: Telegram asked to wait ${result.parameters?.retry_after ?? 3} s (429 on getUpdates); polling resumes after that`);
      }
      return result;
    });
    bot.catch((error) => logger.error("handler failed", { update_id: error.ctx.update.update_id, ...errorFields(error.error) }));

    const webhook = await bot.api.getWebhookInfo();
    if (webhook.url) {
      if (!options.force) {
        await local.close();
        throw new CliError(`a webhook is set (${new URL(webhook.url).host}); polling would take it over. Use --force to delete it`);
      }
      await bot.api.deleteWebhook({ drop_pending_updates: false });
      console.log("polling: --force: webhook deleted; pending updates kept. Restore it with `npm run set-webhook`");
    }

    // bot.stop() confirms the handled updates with one last getUpdates, which bot.start() does not wait
    // for: it is awaited below, so the process neither exits before it nor dies on its failure.
    let stopping: Promise<void> | undefined;
    const stop = () => {
      stopping ??= bot.stop();
      stopping.catch(() => undefined);
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    try {
      await bot.start({
        allowed_updates: [...ALLOWED_UPDATES],
        onStart: (me) => console.log(`polling: @${me.username} is running; Ctrl-C stops after the update in flight`),
      });
      await stopping;
    } finally {
      await local.close();
    }
    console.log("polling: stopped");
  });

await runProgram(program);
