import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import dotenv from "dotenv";
import { CliError, createProgram, runProgram, wholeNumber } from "./lib/cli.js";
import { LOCAL_DEFAULTS, startLocalServices } from "./lib/local-services.js";

/** The project, wherever the script is started from: wrangler.toml and wrangler itself live there. */
const REPO_ROOT = resolve(import.meta.dirname, "..");
const WRANGLER = join(REPO_ROOT, "node_modules/wrangler/bin/wrangler.js");
const WRANGLER_TOML = join(REPO_ROOT, "wrangler.toml");
/** Read from the working directory, like the other scripts (npm runs them in the project). */
const DEV_VARS = resolve(".dev.vars");

/** The secret names wrangler.toml declares under [secrets] required. */
async function requiredSecrets(): Promise<string[]> {
  const toml = await readFile(WRANGLER_TOML, "utf8");
  const block = /\[secrets\][^[]*required\s*=\s*\[([^\]]*)\]/.exec(toml)?.[1] ?? "";
  return [...block.matchAll(/"([A-Z0-9_]+)"/g)].map((match) => match[1] ?? "");
}

const program = createProgram("dev", "wrangler dev on http://localhost:8787, with local gateways for whatever .dev.vars leaves unset.")
  .option("--port <port>", "port for wrangler dev", wholeNumber(1, 65535), 8787)
  .option("--redis-url <url>", "real Redis behind the local Upstash gateway", LOCAL_DEFAULTS.redisUrl)
  .option("--postgres-url <url>", "real PostgreSQL behind the local Neon gateway (migrated on start)", LOCAL_DEFAULTS.postgresUrl)
  .action(async (options: { port: number; redisUrl: string; postgresUrl: string }) => {
    const devVars = existsSync(DEV_VARS) ? dotenv.parse(await readFile(DEV_VARS)) : {};
    const local = await startLocalServices(devVars, { ...LOCAL_DEFAULTS, redisUrl: options.redisUrl, postgresUrl: options.postgresUrl });
    if (local.started.length > 0) console.log(`dev: no Upstash/Neon/Telegram values in .dev.vars; started ${local.started.join("; ")}`);

    // wrangler reads only the secrets listed in wrangler.toml from env files: those go through env files
    // (never echoed); every other variable, from .dev.vars or a local service, is passed with --var.
    const required = new Set(await requiredSecrets());
    const dir = await mkdtemp(join(tmpdir(), "mtt-bot-dev-"));
    const secretsFile = join(dir, "local.env");
    const secretLines = Object.entries(local.vars).filter(([name]) => required.has(name));
    await writeFile(secretsFile, secretLines.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join("\n"), { mode: 0o600 });
    const varArgs = Object.entries({ ...devVars, ...local.vars })
      .filter(([name]) => !required.has(name))
      .flatMap(([name, value]) => ["--var", `${name}:${value}`]);
    const envFiles = [...(existsSync(DEV_VARS) ? [DEV_VARS] : []), secretsFile].flatMap((file) => ["--env-file", file]);

    const args = ["dev", "--config", WRANGLER_TOML, "--port", String(options.port), "--ip", "127.0.0.1", ...envFiles, ...varArgs];
    const wrangler = spawn(process.execPath, [WRANGLER, ...args], { cwd: REPO_ROOT, stdio: "inherit" });
    let stopping = false;
    const stop = () => {
      stopping = true;
      wrangler.kill("SIGTERM");
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    const code = await new Promise<number | null>((resolve) => wrangler.once("exit", resolve));
    await local.close();
    await rm(dir, { recursive: true, force: true });
    // Asked to stop, wrangler exits with 143 or 130: that is a clean stop, not a failure.
    if (!stopping && code !== 0) throw new CliError(`wrangler dev exited with ${code === null ? "a signal" : `code ${code}`}`);
  });

await runProgram(program);
