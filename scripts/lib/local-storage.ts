/**
 * Scratch data on the local Redis and PostgreSQL for suites that own a database of their own
 * (the reliability suite, the benchmark): created fresh before, removed after.
 */
import { Redis as IORedis } from "ioredis";
import pg from "pg";

async function asAdmin(postgresServerUrl: string, statements: string[]): Promise<void> {
  const admin = new pg.Client({ connectionString: `${postgresServerUrl}/postgres` });
  await admin.connect();
  try {
    for (const statement of statements) await admin.query(statement);
  } finally {
    await admin.end();
  }
}

/**
 * Drops (closing its connections) and creates a database.
 * @param postgresServerUrl e.g. `postgres://postgres@127.0.0.1:5432`, without a database.
 */
export async function recreateDatabase(postgresServerUrl: string, database: string): Promise<void> {
  await asAdmin(postgresServerUrl, [`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`, `CREATE DATABASE ${database}`]);
}

/** Drops a database, closing its connections. */
export async function dropDatabase(postgresServerUrl: string, database: string): Promise<void> {
  await asAdmin(postgresServerUrl, [`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`]);
}

/** Empties one Redis database, e.g. `redis://127.0.0.1:6379/12`. */
export async function flushRedisDatabase(redisUrl: string): Promise<void> {
  const redis = new IORedis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    await redis.flushdb();
  } finally {
    redis.disconnect();
  }
}
