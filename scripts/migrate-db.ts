import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { CliError } from "./lib/cli.js";

/** The folder of numbered, forward-only SQL migrations (`0001_name.sql`, …). */
export const MIGRATIONS_DIR = fileURLToPath(new URL("../migrations/", import.meta.url));

/** An arbitrary constant: concurrent runs of the migrator wait for each other on this lock. */
const MIGRATION_LOCK_ID = 727_001;

/**
 * Applies the migrations not yet recorded in `schema_migrations`, all in one transaction.
 * Running it again applies nothing.
 * @throws CliError naming the migration that failed; the transaction is rolled back, nothing is applied.
 * @returns the versions applied by this run, in order.
 */
export async function migrate(connectionString: string, dir = MIGRATIONS_DIR): Promise<string[]> {
  const files = (await readdir(dir)).filter((name) => /^\d{4}_[\w-]+\.sql$/.test(name)).sort();
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query("BEGIN");
    await client.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK_ID]);
    await client.query(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    );
    const { rows } = await client.query<{ version: string }>("SELECT version FROM schema_migrations");
    const done = new Set(rows.map((row) => row.version));
    const applied: string[] = [];
    for (const file of files) {
      const version = file.replace(/\.sql$/, "");
      if (done.has(version)) continue;
      const sql = await readFile(join(dir, file), "utf8");
      await client.query(sql).catch((error: unknown) => {
        const why = error instanceof Error ? error.message : String(error);
        throw new CliError(`migration ${file} failed, nothing was applied: ${why}`, { cause: error });
      });
      await client.query("INSERT INTO schema_migrations (version) VALUES ($1)", [version]);
      applied.push(version);
    }
    await client.query("COMMIT");
    return applied;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  } finally {
    await client.end();
  }
}
