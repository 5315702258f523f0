import type { NeonDbError, NeonQueryFunction } from "@neondatabase/serverless";
import { DependencyError } from "../lib/errors.js";

/** Connection settings for Neon Postgres over HTTP. */
export interface DbSettings {
  url: string;
  /** A Neon-compatible `/sql` endpoint; unset in production, where the driver derives it from `url`. */
  httpEndpoint: string | undefined;
}

/** One parameterised statement. */
export interface Statement {
  text: string;
  params?: unknown[];
}

/** The queries the bot runs; every failure a retry can fix surfaces as `DependencyError("postgres")`. */
export interface Db {
  query<Row = Record<string, unknown>>(text: string, params?: unknown[]): Promise<Row[]>;
  /** Runs the statements in one transaction; all or nothing. */
  transaction(statements: Statement[]): Promise<Record<string, unknown>[][]>;
}

type NeonDriver = typeof import("@neondatabase/serverless");

/**
 * The driver, loaded on the first query rather than at startup: evaluating it is about half of the
 * Worker's startup CPU, and most updates never query Postgres.
 */
let driver: NeonDriver | undefined;
let loading: Promise<NeonDriver> | undefined;

function loadDriver(): Promise<NeonDriver> {
  loading ??= import("@neondatabase/serverless").then((loaded) => (driver = loaded));
  return loading;
}

/**
 * Whether `error` is the driver's `NeonDbError` (Postgres or Neon's proxy refused the query), without
 * loading the driver: no such error can exist before it is loaded.
 */
function isNeonDbError(error: unknown): error is NeonDbError {
  return driver !== undefined && error instanceof driver.NeonDbError;
}

/** SQLSTATE classes a retry can fix: connection, resources, operator intervention, system, rollback, auth. */
const RETRYABLE_SQLSTATE_CLASSES = new Set(["08", "53", "57", "58", "40", "28", "3D"]);

function classify(error: unknown): unknown {
  if (!isNeonDbError(error)) return new DependencyError("postgres", { cause: error });
  const sqlState = error.code;
  if (sqlState === undefined || RETRYABLE_SQLSTATE_CLASSES.has(sqlState.slice(0, 2))) {
    return new DependencyError("postgres", { cause: error });
  }
  return error;
}

/** Creates the Neon HTTP client used by the Worker and the polling script; the driver loads on the first query. */
export function createDb(settings: DbSettings): Db {
  let sql: NeonQueryFunction<false, false> | undefined;
  const client = async () => {
    if (sql !== undefined) return sql;
    const { neon, neonConfig } = await loadDriver();
    if (settings.httpEndpoint !== undefined) neonConfig.fetchEndpoint = settings.httpEndpoint;
    return (sql ??= neon(settings.url));
  };
  return {
    async query<Row>(text: string, params: unknown[] = []) {
      const run = await client();
      try {
        return (await run.query(text, params)) as Row[];
      } catch (error) {
        throw classify(error);
      }
    },
    async transaction(statements) {
      const run = await client();
      try {
        return (await run.transaction((txn) => statements.map((s) => txn.query(s.text, s.params ?? [])))) as Record<
          string,
          unknown
        >[][];
      } catch (error) {
        throw classify(error);
      }
    },
  };
}
