import { neon, neonConfig, NeonDbError } from "@neondatabase/serverless";
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

/** SQLSTATE classes a retry can fix: connection, resources, operator intervention, system, rollback, auth. */
const RETRYABLE_SQLSTATE_CLASSES = new Set(["08", "53", "57", "58", "40", "28", "3D"]);

function classify(error: unknown): unknown {
  if (!(error instanceof NeonDbError)) return new DependencyError("postgres", { cause: error });
  const sqlState = error.code;
  if (sqlState === undefined || RETRYABLE_SQLSTATE_CLASSES.has(sqlState.slice(0, 2))) {
    return new DependencyError("postgres", { cause: error });
  }
  return error;
}

/** Creates the Neon HTTP client used by the Worker and the polling script. */
export function createDb(settings: DbSettings): Db {
  if (settings.httpEndpoint !== undefined) neonConfig.fetchEndpoint = settings.httpEndpoint;
  const sql = neon(settings.url);
  return {
    async query<Row>(text: string, params: unknown[] = []) {
      try {
        return (await sql.query(text, params)) as Row[];
      } catch (error) {
        throw classify(error);
      }
    },
    async transaction(statements) {
      try {
        return (await sql.transaction((txn) => statements.map((s) => txn.query(s.text, s.params ?? [])))) as Record<
          string,
          unknown
        >[][];
      } catch (error) {
        throw classify(error);
      }
    },
  };
}
