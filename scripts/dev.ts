import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import dotenv from "dotenv";
import { createProgram, runProgram } from "./lib/cli.js";
import { startLocalServices } from "./lib/local-services.js";

const DEV_VARS = ".dev.vars";

const program = createProgram("dev", "wrangler dev on http://localhost:8787, with local gateways for whatever .dev.vars leaves unset.")
  .option("--port <port>", "port for wrangler dev", "8787")
  .action(async (options: { port: string }) => {
    const devVars = existsSync(DEV_VARS) ? dotenv.parse(await import("node:fs/promises").then((fs) => fs.readFile(DEV_VARS))) : {};
    const local = await startLocalServices(devVars);
    if (local.started.length > 0) console.log(`dev: no Upstash/Neon/Telegram values in ${DEV_VARS}; started ${local.started.join("; ")}`);

    // The overrides go through an --env-file of their own, so no value is echoed by `--var`.
    const dir = await mkdtemp(join(tmpdir(), "mtt-bot-dev-"));
    const overrides = join(dir, "local.env");
    await writeFile(overrides, Object.entries(local.vars).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join("\n"), { mode: 0o600 });
    const envFiles = [...(existsSync(DEV_VARS) ? [DEV_VARS] : []), overrides].flatMap((file) => ["--env-file", file]);

    const wrangler = spawn("npx", ["wrangler", "dev", "--port", options.port, "--ip", "127.0.0.1", ...envFiles], { stdio: "inherit" });
    const stop = () => wrangler.kill("SIGTERM");
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    const code = await new Promise<number>((resolve) => wrangler.once("exit", (exitCode) => resolve(exitCode ?? 0)));
    await local.close();
    await rm(dir, { recursive: true, force: true });
    if (code !== 0) process.exitCode = code;
  });

await runProgram(program);
