import { Option } from "commander";
import { createProgram, runProgram } from "../lib/cli.js";
import { NO_LATENCY, parseLatencyModel, type LatencyModel } from "../lib/latency-model.js";
import { LOCAL_DEFAULTS, startLocalServices } from "../lib/local-services.js";

const program = createProgram(
  "local:services",
  "Start the Upstash and Neon gateways over the local Redis/PostgreSQL and the Bot API double, until Ctrl-C.",
)
  .option("--redis-port <port>", "Upstash gateway port (0 = any free port)", "8079")
  .option("--neon-port <port>", "Neon gateway port (0 = any free port)", "4444")
  .option("--bot-api-port <port>", "Bot API double port (0 = any free port)", "8081")
  .option("--redis-url <url>", "real Redis behind the Upstash gateway", LOCAL_DEFAULTS.redisUrl)
  .option("--postgres-url <url>", "real PostgreSQL behind the Neon gateway (migrated on start)", LOCAL_DEFAULTS.postgresUrl)
  .option("--upstash-token <token>", "token the Upstash gateway accepts", LOCAL_DEFAULTS.upstashToken)
  .option("--bot-token <token>", "token the Bot API double accepts", LOCAL_DEFAULTS.botToken)
  .addOption(
    new Option(
      "--latency <model>",
      'added latency per request in ms, like production\'s round trips: "upstash=5,neon=20,telegram=50" (any of them), "production" (that model) or "none"',
    )
      .argParser(parseLatencyModel)
      .default(NO_LATENCY, "none"),
  )
  .option("--json", "print the variables as one JSON line (for tools) instead of .dev.vars lines")
  .action(
    async (options: {
      redisPort: string;
      neonPort: string;
      botApiPort: string;
      redisUrl: string;
      postgresUrl: string;
      upstashToken: string;
      botToken: string;
      latency: LatencyModel;
      json?: boolean;
    }) => {
      const local = await startLocalServices(
        {},
        {
          redisUrl: options.redisUrl,
          postgresUrl: options.postgresUrl,
          upstashToken: options.upstashToken,
          botToken: options.botToken,
          ports: { redis: Number(options.redisPort), neon: Number(options.neonPort), botApi: Number(options.botApiPort) },
          latency: options.latency,
        },
      );
      if (options.json) {
        console.log(JSON.stringify(local.vars));
      } else {
        for (const line of local.started) console.log(`started ${line}`);
        console.log("\nPut these in .dev.vars to use them from `npm run dev` or `npm run polling`:\n");
        for (const [name, value] of Object.entries(local.vars)) console.log(`${name}=${value}`);
      }
      await new Promise<void>((resolve) => {
        process.once("SIGINT", resolve);
        process.once("SIGTERM", resolve);
      });
      await local.close();
    },
  );

await runProgram(program);
