// npm run dev runs notifications end to end with no account anywhere: the queue, its consumer and the
// pacer Durable Object as Miniflare simulates them, the local gateways and the Bot API double.
import { copyFile } from "node:fs/promises";
import { join } from "node:path";
import { expect, it } from "vitest";
import { LOCAL_SECRETS } from "../../../scripts/lib/local-services.js";
import { freePort, query, REPO_ROOT, scratchDir, scratchStorage, startScript, waitFor } from "./run-script.js";

const DATABASE = `mtt_bot_dev_notify_test_${process.pid}`;
/** A Redis database of its own (local-dev 8, dev 9, parity 10, polling 11, reliability 12, worker 15). */
const REDIS_URL = "redis://127.0.0.1:6379/7";
const CHATS = [880_000_001, 880_000_002, 880_000_003];
const WEB_USER = 4242;

const databaseUrl = scratchStorage(DATABASE, REDIS_URL);

it("a notification handed over to npm run dev is sent by its queue consumer, once per chat, and reported done", { timeout: 90_000 }, async () => {
  const cwd = await scratchDir();
  await copyFile(join(REPO_ROOT, ".dev.vars.example"), join(cwd, ".dev.vars"));
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const dev = await startScript("dev.ts", ["--port", String(port), "--redis-url", REDIS_URL, "--postgres-url", databaseUrl()], { cwd });
  await waitFor(async () => (await fetch(`${origin}/bot/health`).catch(() => undefined))?.status === 200, "GET /bot/health", 30_000);
  const double = /Bot API double (http:\/\/127\.0\.0\.1:\d+)/.exec(dev.stdout)?.[1] ?? "";

  // The database is migrated by now (the Neon gateway's start): link three accounts to one web user.
  await query(
    databaseUrl(),
    `INSERT INTO telegram_accounts (telegram_user_id, chat_id, first_name, web_user_id) SELECT c, c, 'Dev', $2 FROM unnest($1::bigint[]) c`,
    [CHATS, WEB_USER],
  );
  const auth = { Authorization: `Bearer ${LOCAL_SECRETS.BOT_INTERNAL_API_TOKEN}` };
  const handOver = await fetch(`${origin}/bot/internal/notifications`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body: JSON.stringify({ id: "dev:1", user_ids: [WEB_USER], text: "Hello from npm run dev" }),
  });
  expect(handOver.status, await handOver.clone().text()).toBe(202);
  expect(await handOver.json()).toEqual({ id: "dev:1", recipients: 3, status_url: "/bot/internal/notifications/dev:1" });

  let status: Record<string, unknown> = {};
  await waitFor(
    async () => {
      status = (await (await fetch(`${origin}/bot/internal/notifications/dev:1`, { headers: auth })).json()) as Record<string, unknown>;
      return status.done === true;
    },
    "the notification to be done",
    30_000,
  );
  expect(status).toMatchObject({ recipients: 3, sent: 3, blocked: 0, failed: 0, pending: 0 });
  const sent = (await (await fetch(`${double}/__control/calls?method=sendMessage`)).json()) as { params: { chat_id: number; text: string } }[];
  expect(sent.map((call) => call.params.chat_id).sort()).toEqual(CHATS);
  expect(new Set(sent.map((call) => call.params.text))).toEqual(new Set(["Hello from npm run dev"]));

  dev.child.kill("SIGTERM");
  expect((await dev.exited).code).toBe(0);
});
