import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import dotenv from "dotenv";
import { createProgram, runProgram } from "./lib/cli.js";
import { startLocalServices } from "./lib/local-services.js";

const DEV_VARS = ".dev.vars";

/** The secret names wrangler.toml declares under [secrets] required. */
async function requiredSecrets(): Promise<string[]> {
  const toml = await readFile("wrangler.toml", "utf8");
  const block = /\[secrets\][^[]*required\s*=\s*\[([^\]]*)\]/.exec(toml)?.[1] ?? "";
  return [...block.matchAll(/"([A-Z0-9_]+)"/g)].map((match) => match[1] ?? "");
}

const program = createProgram("dev", "wrangler dev on http://localhost:8787, with local gateways for whatever .dev.vars leaves unset.")
  .option("--port <port>", "port for wrangler dev", "8787")
  .action(async (options: { port: string }) => {
    const devVars = existsSync(DEV_VARS) ? dotenv.parse(await readFile(DEV_VARS)) : {};
    const local = await startLocalServices(devVars);
    if (local.started.length > 0) console.log(`dev: no Upstash/Neon/Telegram values in ${DEV_VARS}; started ${local.started.join("; ")}`);

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

    const wrangler = spawn("npx", ["wrangler", "dev", "--port", options.port, "--ip", "127.0.0.1", ...envFiles, ...varArgs], { stdio: "inherit" });
    const stop = () => wrangler.kill("SIGTERM");
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    const code = await new Promise<number>((resolve) => wrangler.once("exit", (exitCode) => resolve(exitCode ?? 0)));
    await local.close();
    await rm(dir, { recursive: true, force: true });
    if (code !== 0) process.exitCode = code;
  });

await runProgram(program);
