// scripts/migrate.ts (npm run db:migrate) and migrate() against fresh PostgreSQL databases.
import { copyFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CliError } from "../../../scripts/lib/cli.js";
import { migrate, MIGRATIONS_DIR } from "../../../scripts/migrate-db.js";
import { cleanUp, createDatabase, dropDatabase, expectNoLeak, expectOneLineFailure, query, runScript, scratchDir } from "./run-script.js";

const DATABASE = `mtt_bot_migrate_test_${process.pid}`;
const BROKEN_DATABASE = `mtt_bot_migrate_broken_${process.pid}`;

let url: string;
let versions: string[];

const tableExists = async (database: string, table: string): Promise<boolean> =>
  (await query<{ found: string | null }>(database, "SELECT to_regclass($1)::text AS found", [table]))[0]?.found === table;

beforeAll(async () => {
  url = await createDatabase(DATABASE);
  versions = (await readdir(MIGRATIONS_DIR))
    .filter((name) => /^\d{4}_[\w-]+\.sql$/.test(name))
    .sort()
    .map((name) => name.replace(/\.sql$/, ""));
});

afterAll(async () => {
  await cleanUp();
  await Promise.all([dropDatabase(DATABASE), dropDatabase(BROKEN_DATABASE)]);
});

describe("migrate.ts", () => {
  it("applies every migration once, then is up to date", async () => {
    expect(versions[0]).toBe("0001_telegram_accounts");

    const first = await runScript("migrate.ts", [], { env: { DATABASE_URL: url } });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toBe(`migrations: applied ${versions.join(", ")}\n`);
    expect(first.stderr).toBe("");

    const rows = await query<{ version: string }>(url, "SELECT version FROM schema_migrations ORDER BY version");
    expect(rows.map((row) => row.version)).toEqual(versions);
    expect(await tableExists(url, "telegram_accounts")).toBe(true);
    expect(await tableExists(url, "telegram_accounts_web_user_id_idx")).toBe(true);

    const second = await runScript("migrate.ts", [], { env: { DATABASE_URL: url } });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toBe("migrations: up to date\n");
  });

  it("takes --database-url instead of DATABASE_URL", async () => {
    const result = await runScript("migrate.ts", ["--database-url", url], { env: {} });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe("migrations: up to date\n");
  });

  it("fails in one line naming DATABASE_URL when it is missing", async () => {
    const result = await runScript("migrate.ts", [], { env: {} });
    expectOneLineFailure(result, /DATABASE_URL is missing/);
  });

  it("names a malformed DATABASE_URL without printing it", async () => {
    const result = await runScript("migrate.ts", [], { env: { DATABASE_URL: "mysql://admin:hunter2-password@db.example/app" } });
    expectOneLineFailure(result, /DATABASE_URL is malformed/);
    expectNoLeak(result, ["hunter2-password", "db.example"]);
  });
});

describe("migrate()", () => {
  it("rolls a failing run back completely and names the migration", async () => {
    const brokenUrl = await createDatabase(BROKEN_DATABASE);
    const dir = await scratchDir();
    await copyFile(join(MIGRATIONS_DIR, `${versions[0]}.sql`), join(dir, `${versions[0]}.sql`));
    await writeFile(join(dir, "0002_probe.sql"), "CREATE TABLE migrate_probe (id int);\n");
    await writeFile(join(dir, "0003_broken.sql"), "INSERT INTO migrate_probe VALUES (1);\nSELECT * FROM no_such_table;\n");

    const error = await migrate(brokenUrl, dir).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(CliError);
    expect((error as Error).message).toBe(
      'migration 0003_broken.sql failed, nothing was applied: relation "no_such_table" does not exist',
    );
    for (const table of ["schema_migrations", "telegram_accounts", "migrate_probe"]) {
      expect(await tableExists(brokenUrl, table), table).toBe(false);
    }

    // Fixed, the same run applies everything.
    await writeFile(join(dir, "0003_broken.sql"), "INSERT INTO migrate_probe VALUES (1);\n");
    expect(await migrate(brokenUrl, dir)).toEqual([versions[0], "0002_probe", "0003_broken"]);
    expect(await query(brokenUrl, "SELECT id FROM migrate_probe")).toEqual([{ id: 1 }]);
  });
});
