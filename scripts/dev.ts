import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import dotenv from "dotenv";
import { Api } from "grammy";
import { CliError, createProgram, keepPasswordsSecret, printError, runProgram, wholeNumber } from "./lib/cli.js";
import { publishDevSession, removeDevSession, SESSION_VARIABLES } from "./lib/dev-session.js";
import { CHAT_PAGE_PORT, LOCAL_DEFAULTS, startLocalServices } from "./lib/local-services.js";
import { setUpWebhook } from "./lib/webhook-setup.js";

/** The project, wherever the script is started from: wrangler.toml and wrangler itself live there. */
const REPO_ROOT = resolve(import.meta.dirname, "..");
const WRANGLER = join(REPO_ROOT, "node_modules/wrangler/bin/wrangler.js");
const WRANGLER_TOML = join(REPO_ROOT, "wrangler.toml");
/** Sets nothing: handed to wrangler when there is no .dev.vars, so it never reads one from elsewhere. */
const EMPTY_DEV_VARS = join(REPO_ROOT, ".dev.vars.example");
/** Read from the working directory, like the other scripts (npm runs them in the project). */
const DEV_VARS = resolve(".dev.vars");
const HEALTH_POLL_MS = 250;

/** The secret names wrangler.toml declares under [secrets] required. */
async function requiredSecrets(): Promise<string[]> {
  const toml = await readFile(WRANGLER_TOML, "utf8");
  const block = /\[secrets\][^[]*required\s*=\s*\[([^\]]*)\]/.exec(toml)?.[1] ?? "";
  return [...block.matchAll(/"([A-Z0-9_]+)"/g)].map((match) => match[1] ?? "");
}

/** Fails in one line when something already listens on the Worker's port (wrangler would say less plainly). */
async function checkPortFree(port: number): Promise<void> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once("error", (error: NodeJS.ErrnoException) =>
      reject(error.code === "EADDRINUSE" ? new CliError(`port ${port} is in use (another \`npm run dev\`?); stop it or pick another with --port`) : error),
    );
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolve()));
  });
}

/** Resolves once the Worker answers /bot/health, or with false when wrangler exits first. */
async function workerUp(origin: string, exited: Promise<unknown>): Promise<boolean> {
  let gone = false;
  void exited.then(() => (gone = true));
  while (!gone) {
    const healthy = await fetch(`${origin}/bot/health`, { signal: AbortSignal.timeout(2000) }).then(
      (response) => response.ok,
      () => false,
    );
    if (healthy) return true;
    await new Promise((resolve) => setTimeout(resolve, HEALTH_POLL_MS));
  }
  return false;
}

interface DevOptions {
  port: number;
  botApiPort: number;
  redisUrl: string;
  postgresUrl: string;
}

const program = createProgram(
  "dev",
  "wrangler dev on http://localhost:8787, with local gateways for whatever .dev.vars leaves unset, and a chat page to talk to the bot.",
)
  .option("--port <port>", "port for wrangler dev", wholeNumber(1, 65535), 8787)
  .option("--bot-api-port <port>", "port of the local Bot API double and its chat page (0 = any free port)", wholeNumber(0, 65535), CHAT_PAGE_PORT)
  .option("--redis-url <url>", "real Redis behind the local Upstash gateway", LOCAL_DEFAULTS.redisUrl)
  .option("--postgres-url <url>", "real PostgreSQL behind the local Neon gateway (migrated on start)", LOCAL_DEFAULTS.postgresUrl)
  .action(async (options: DevOptions) => {
    keepPasswordsSecret(options.redisUrl, options.postgresUrl);
    const devVars = existsSync(DEV_VARS) ? dotenv.parse(await readFile(DEV_VARS)) : {};
    const ignored = [
      ["redisUrl", "--redis-url", "UPSTASH_REDIS_REST_URL"],
      ["postgresUrl", "--postgres-url", "DATABASE_URL"],
      ["botApiPort", "--bot-api-port", "TELEGRAM_BOT_TOKEN"],
    ].filter(([key, , variable]) => program.getOptionValueSource(key ?? "") === "cli" && devVars[variable ?? ""]);
    for (const [, flag, variable] of ignored) console.warn(`dev: warning: ${flag} is ignored: .dev.vars sets ${variable}, so that service is not started`);

    await checkPortFree(options.port);
    const local = await startLocalServices(devVars, {
      ...LOCAL_DEFAULTS,
      redisUrl: options.redisUrl,
      postgresUrl: options.postgresUrl,
      ports: { redis: 0, neon: 0, botApi: options.botApiPort },
    });
    if (local.chatPageUrl !== undefined) console.log(`dev: chat with the bot at ${local.chatPageUrl}`);
    if (local.started.length > 0) console.log(`dev: no Upstash/Neon/Telegram values in .dev.vars; started ${local.started.join("; ")}`);

    // wrangler reads the secrets wrangler.toml lists from its env file and from its environment (which wins):
    // the local stand-ins' secrets go through the environment, so no file with them is ever written, and
    // the shell's own values of those names are left out so that .dev.vars decides. Every other variable,
    // from .dev.vars or a local service, is passed with --var.
    const required = new Set(await requiredSecrets());
    const environment: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !required.has(name)));
    for (const [name, value] of Object.entries(local.vars)) if (required.has(name)) environment[name] = value;
    // Offline, wrangler's fetch of Request.cf only fails with a stack trace; its placeholder is fine locally.
    environment.CLOUDFLARE_CF_FETCH_ENABLED = "false";
    const varArgs = Object.entries({ ...devVars, ...local.vars })
      .filter(([name]) => !required.has(name))
      .flatMap(([name, value]) => ["--var", `${name}:${value}`]);
    const envFile = existsSync(DEV_VARS) ? DEV_VARS : EMPTY_DEV_VARS;
    const args = ["dev", "--config", WRANGLER_TOML, "--port", String(options.port), "--ip", "127.0.0.1", "--env-file", envFile, ...varArgs];
    const wrangler = spawn(process.execPath, [WRANGLER, ...args], { cwd: REPO_ROOT, stdio: "inherit", env: environment });
    const exited = new Promise<number | null>((resolve) => wrangler.once("exit", resolve));

    // Ctrl-C reaches every process of the group, tsx relays it once more: each signal after the first is
    // taken as the same request to stop, never left to end this process before it has cleaned up.
    let stopping = false;
    const stop = (): void => {
      if (stopping) return;
      stopping = true;
      wrangler.kill("SIGTERM");
    };
    for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, stop);
    process.once("exit", removeDevSession);

    const origin = `http://127.0.0.1:${options.port}`;
    if (await workerUp(origin, exited)) {
      const webhookUrl = `${origin}/bot/webhook/`;
      const apiRoot = local.vars.TELEGRAM_API_ROOT;
      const sessionVars = Object.fromEntries(SESSION_VARIABLES.flatMap((name) => (local.vars[name] ? [[name, local.vars[name]]] : [])));
      // The local Worker is the webhook only of the local bot; a real bot's webhook is Telegram's business.
      if (apiRoot !== undefined) sessionVars.TELEGRAM_WEBHOOK_URL = webhookUrl;
      publishDevSession({ pid: process.pid, worker: origin, vars: sessionVars });
      const secret = local.vars.TELEGRAM_WEBHOOK_SECRET ?? devVars.TELEGRAM_WEBHOOK_SECRET;
      if (apiRoot !== undefined && secret !== undefined && !stopping) {
        const api = new Api(local.vars.TELEGRAM_BOT_TOKEN ?? "", { apiRoot });
        await setUpWebhook(api, { url: webhookUrl, secret, maxConnections: 40, dropPending: false }).then(
          () => console.log(`dev: the local Bot API double delivers to ${webhookUrl}`),
          (error: unknown) => printError(`dev: could not set the webhook on the local Bot API double: ${String(error)}`),
        );
      }
    }

    const code = await exited;
    removeDevSession();
    await local.close();
    // Asked to stop, wrangler exits with 143 or 130: that is a clean stop, not a failure.
    if (!stopping && code !== 0) throw new CliError(`wrangler dev exited with ${code === null ? "a signal" : `code ${code}`}`);
  });

await runProgram(program);
