import { readVariable } from "../src/config.js";
import { createProgram, loadDevVars, runProgram } from "./lib/cli.js";
import { migrate } from "./migrate-db.js";

const program = createProgram("db:migrate", "Apply the SQL migrations in migrations/ to DATABASE_URL (idempotent).")
  .option("--database-url <url>", "connection string; default DATABASE_URL from the environment or .dev.vars")
  .action(async (options: { databaseUrl?: string }) => {
    loadDevVars();
    const url = options.databaseUrl ?? readVariable(process.env, "DATABASE_URL");
    const applied = await migrate(url);
    console.log(applied.length === 0 ? "migrations: up to date" : `migrations: applied ${applied.join(", ")}`);
  });

await runProgram(program);
