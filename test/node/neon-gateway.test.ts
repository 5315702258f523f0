// Conformance of the local Neon gateway with the official @neondatabase/serverless driver, over a real PostgreSQL.
import { Client, NeonDbError, Pool, neon, neonConfig } from "@neondatabase/serverless";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { spawnLocalServices } from "../../scripts/lib/local-services-process.js";
import { startNeonGateway, type NeonGateway } from "../../scripts/local/neon-gateway.js";

const DATABASE_URL = "postgres://postgres:unused@127.0.0.1:5432/test";
const TABLE = `neon_gateway_test_${process.pid}`;
// Marks this file's WebSocket sessions so pg_stat_activity can tell them apart.
const APP_NAME = `neon-gateway-test-${process.pid}`;

let gw: NeonGateway;
const sql = neon(DATABASE_URL);

async function control(path: string, method = "POST"): Promise<unknown> {
  const res = await fetch(`http://127.0.0.1:${gw.port}/__control/${path}`, { method });
  expect(res.status).toBe(200);
  return res.json();
}

async function backendsOfThisFile(): Promise<number> {
  const rows = await sql`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = ${APP_NAME}`;
  return rows[0]?.n as number;
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

beforeAll(async () => {
  gw = await startNeonGateway();
  neonConfig.fetchEndpoint = gw.httpEndpoint;
  neonConfig.wsProxy = gw.wsProxy;
  neonConfig.useSecureWebSocket = false;
  neonConfig.pipelineConnect = false;
  neonConfig.webSocketConstructor = WebSocket;
  await sql.query(`CREATE TABLE ${TABLE} (id serial PRIMARY KEY, v text NOT NULL UNIQUE)`);
});

afterAll(async () => {
  await sql.query(`DROP TABLE IF EXISTS ${TABLE}`);
  await gw.close();
});

describe("HTTP /sql with neon()", () => {
  it("returns parameters and values with the driver's types", async () => {
    const when = new Date("2024-05-06T07:08:09.123Z");
    const rows = await sql`
      SELECT ${42}::int AS i, ${"9007199254740993"}::bigint AS big, ${"12345.678901"}::numeric AS num,
             ${"héllo 'world'"}::text AS t, ${{ a: 1, b: ["x", null] }}::jsonb AS j, ${when}::timestamptz AS ts,
             ${true}::bool AS yes, ${null}::text AS nothing, ${[1, 2, 3]}::int[] AS ints,
             ${["a", "b,c", 'q"d']}::text[] AS texts`;
    expect(rows).toEqual([
      {
        i: 42,
        big: "9007199254740993",
        num: "12345.678901",
        t: "héllo 'world'",
        j: { a: 1, b: ["x", null] },
        ts: when,
        yes: true,
        nothing: null,
        ints: [1, 2, 3],
        texts: ["a", "b,c", 'q"d'],
      },
    ]);
    expect(rows[0]?.ts).toBeInstanceOf(Date);
  });

  it("runs sql.query(text, params)", async () => {
    const rows = await sql.query("SELECT $1::int + $2::int AS sum, $3::text AS label", [2, 3, "five"]);
    expect(rows).toEqual([{ sum: 5, label: "five" }]);
  });

  it("honours arrayMode and fullResults", async () => {
    expect(await sql.query("SELECT 1::int AS a, 'x'::text AS b", [], { arrayMode: true })).toEqual([[1, "x"]]);

    const full = await sql.query("SELECT $1::int AS a, 'x'::text AS b", [7], { fullResults: true });
    expect(full.command).toBe("SELECT");
    expect(full.rowCount).toBe(1);
    expect(full.rows).toEqual([{ a: 7, b: "x" }]);
    expect(full.fields.map((f) => [f.name, f.dataTypeID])).toEqual([
      ["a", 23],
      ["b", 25],
    ]);

    const both = neon(DATABASE_URL, { arrayMode: true, fullResults: true });
    const inserted = await both.query(`INSERT INTO ${TABLE} (v) VALUES ($1), ($2) RETURNING id, v`, ["fr-1", "fr-2"]);
    expect(inserted.command).toBe("INSERT");
    expect(inserted.rowCount).toBe(2);
    expect(inserted.rowAsArray).toBe(true);
    expect(inserted.rows.map((row) => row[1])).toEqual(["fr-1", "fr-2"]);
    const idField = inserted.fields[0];
    expect(idField?.name).toBe("id");
    expect(idField?.tableID).toBeGreaterThan(0);
    expect(idField?.columnID).toBe(1);
  });

  it("commits a transaction", async () => {
    const [first, second] = await sql.transaction([
      sql`INSERT INTO ${sql.unsafe(TABLE)} (v) VALUES (${"tx-ok-1"}) RETURNING v`,
      sql`INSERT INTO ${sql.unsafe(TABLE)} (v) VALUES (${"tx-ok-2"}) RETURNING v`,
    ]);
    expect(first).toEqual([{ v: "tx-ok-1" }]);
    expect(second).toEqual([{ v: "tx-ok-2" }]);
    const rows = await sql.query(`SELECT v FROM ${TABLE} WHERE v LIKE 'tx-ok-%' ORDER BY v`);
    expect(rows).toEqual([{ v: "tx-ok-1" }, { v: "tx-ok-2" }]);
  });

  it("rolls the whole transaction back when a statement fails", async () => {
    const failing = sql.transaction([
      sql`INSERT INTO ${sql.unsafe(TABLE)} (v) VALUES (${"tx-bad"})`,
      sql`SELECT 1 / ${0}::int`,
    ]);
    await expect(failing).rejects.toMatchObject({ name: "NeonDbError", code: "22012" });
    expect(await sql.query(`SELECT v FROM ${TABLE} WHERE v = 'tx-bad'`)).toEqual([]);
  });

  it("applies the batch isolation level and read-only flag", async () => {
    const [level, readOnly] = await sql.transaction([sql`SHOW transaction_isolation`, sql`SHOW transaction_read_only`], {
      isolationLevel: "Serializable",
      readOnly: true,
    });
    expect(level).toEqual([{ transaction_isolation: "serializable" }]);
    expect(readOnly).toEqual([{ transaction_read_only: "on" }]);

    const write = sql.transaction([sql`INSERT INTO ${sql.unsafe(TABLE)} (v) VALUES ('ro')`], { readOnly: true });
    await expect(write).rejects.toMatchObject({ code: "25006" });
  });

  it("surfaces a syntax error as NeonDbError with its SQLSTATE", async () => {
    const error: unknown = await sql.query("SELEC 1").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NeonDbError);
    expect(error).toMatchObject({ code: "42601", severity: "ERROR", position: "1" });
    expect((error as NeonDbError).message).toMatch(/syntax error at or near "SELEC"/);
  });

  it("copies constraint details onto the error", async () => {
    await sql.query(`INSERT INTO ${TABLE} (v) VALUES ('dup')`);
    const error = await sql.query(`INSERT INTO ${TABLE} (v) VALUES ('dup')`).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "23505", table: TABLE, constraint: `${TABLE}_v_key` });
    expect((error as NeonDbError).detail).toMatch(/already exists/);
  });

  it("rejects a connection string for another host or port", async () => {
    for (const url of ["postgres://postgres:x@db.example.com:5432/test", "postgres://postgres:x@127.0.0.1:5433/test"]) {
      const error = await neon(url)`SELECT 1`.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NeonDbError);
      expect((error as NeonDbError).message).toMatch(/is not served by this gateway/);
    }
  });

  it("answers the raw protocol: rows as objects without Neon-Array-Mode, batches under results", async () => {
    const post = (body: unknown, headers: Record<string, string>) =>
      fetch(gw.httpEndpoint, {
        method: "POST",
        headers: { "Neon-Connection-String": DATABASE_URL, "Neon-Raw-Text-Output": "true", ...headers },
        body: JSON.stringify(body),
      });
    const single = await post({ query: "SELECT $1::int AS n, 'on'::bool AS b", params: ["5"] }, {});
    expect(single.status).toBe(200);
    expect(await single.json()).toMatchObject({ rows: [{ n: "5", b: "t" }], rowAsArray: false });

    const batch = await post({ queries: [{ query: "SELECT 1 AS a", params: [] }, { query: "SELECT 2 AS b" }] }, {
      "Neon-Array-Mode": "true",
    });
    expect(await batch.json()).toMatchObject({ results: [{ rows: [["1"]] }, { rows: [["2"]] }] });

    const badLevel = await post({ queries: [{ query: "SELECT 1", params: [] }] }, { "Neon-Batch-Isolation-Level": "Chaos" });
    expect(badLevel.status).toBe(400);
    expect(await badLevel.json()).toMatchObject({ message: expect.stringMatching(/Neon-Batch-Isolation-Level/) });
  });

  it("accepts localhost for 127.0.0.1", async () => {
    expect(await neon("postgres://postgres@localhost:5432/test")`SELECT current_user AS u`).toEqual([{ u: "postgres" }]);
  });
});

describe("WebSocket /v1 with Pool", () => {
  const poolUrl = `${DATABASE_URL}?application_name=${APP_NAME}`;

  it("commits and rolls back multi-statement transactions, then ends cleanly", async () => {
    const pool = new Pool({ connectionString: poolUrl, max: 2 });
    const poolErrors: unknown[] = [];
    pool.on("error", (error: Error) => poolErrors.push(error));

    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      await client.query(`INSERT INTO ${TABLE} (v) VALUES ($1)`, ["ws-commit-1"]);
      await client.query(`INSERT INTO ${TABLE} (v) VALUES ($1)`, ["ws-commit-2"]);
      await client.query("COMMIT");

      await client.query("BEGIN");
      await client.query(`INSERT INTO ${TABLE} (v) VALUES ($1)`, ["ws-rollback"]);
      const inside = await client.query(`SELECT count(*)::int AS n FROM ${TABLE} WHERE v = 'ws-rollback'`);
      expect(inside.rows).toEqual([{ n: 1 }]);
      await client.query("ROLLBACK");
    } finally {
      client.release();
    }

    const { rows } = await pool.query(`SELECT v FROM ${TABLE} WHERE v LIKE 'ws-%' ORDER BY v`);
    expect(rows).toEqual([{ v: "ws-commit-1" }, { v: "ws-commit-2" }]);
    expect(await backendsOfThisFile()).toBeGreaterThan(0);

    await pool.end();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(poolErrors).toEqual([]);
    // The gateway closed its Postgres side too, so no backend outlives the pool.
    await waitFor(async () => (await backendsOfThisFile()) === 0);
  });

  it("refuses an address other than the configured Postgres", async () => {
    const pool = new Pool({ connectionString: "postgres://postgres:x@127.0.0.1:5433/test" });
    await expect(pool.query("SELECT 1")).rejects.toThrow(/403/);
    await pool.end();
  });

  it("ends the Postgres session when a client drops its WebSocket without saying goodbye", async () => {
    // A bare startup message (protocol 3.0), so no Terminate message precedes the close.
    const params = Buffer.from(`user\0postgres\0database\0test\0application_name\0${APP_NAME}\0\0`);
    const startup = Buffer.alloc(8 + params.length);
    startup.writeInt32BE(startup.length, 0);
    startup.writeInt32BE(196608, 4);
    params.copy(startup, 8);

    const ws = new WebSocket(`ws://${gw.wsProxy}?address=127.0.0.1:5432`);
    await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
    const ready = new Promise<void>((resolve) =>
      ws.on("message", (data: Buffer) => data.includes(Buffer.from([0x5a, 0, 0, 0, 5])) && resolve()),
    );
    ws.send(startup);
    await ready; // ReadyForQuery: the session is up
    expect(await backendsOfThisFile()).toBe(1);
    ws.close();
    await waitFor(async () => (await backendsOfThisFile()) === 0);
  });

  it("closes the client's WebSocket when Postgres ends the session", async () => {
    const client = new Client(poolUrl);
    const ended = new Promise<void>((resolve) => client.on("end", () => resolve()));
    client.on("error", () => {}); // the FATAL "terminating connection" notice, expected here
    await client.connect();
    const { rows } = await client.query("SELECT pg_backend_pid() AS pid");
    await sql`SELECT pg_terminate_backend(${rows[0].pid})`;
    await ended;
  });
});

describe("control endpoints", () => {
  it("counts requests and connections, and simulates an unreachable Neon", async () => {
    await control("stats/reset");
    await sql`SELECT 1`;
    const client = new Client(DATABASE_URL);
    await client.connect();
    await client.end();
    expect(await control("stats", "GET")).toEqual({ requests: 1, connections: 1 });

    await control("down");
    try {
      const httpError = await sql`SELECT 1`.catch((e: unknown) => e);
      expect(httpError).toBeInstanceOf(NeonDbError);
      expect((httpError as NeonDbError).message).toMatch(/Error connecting to database/);
      const wsClient = new Client(DATABASE_URL);
      wsClient.on("error", () => {});
      await expect(wsClient.connect()).rejects.toThrow();
    } finally {
      await control("up");
    }
    expect(await sql`SELECT 2::int AS two`).toEqual([{ two: 2 }]);
  });
});

describe("edge and service failures", () => {
  it("answers /sql as Cloudflare's edge does for an origin it cannot reach, or with a 5xx, until up", async () => {
    await control("edge/1016");
    await expect(sql`SELECT 1`).rejects.toThrow(/HTTP status 530\): error code: 1016/);
    await control("http-error/500");
    await expect(sql`SELECT 1`).rejects.toThrow(/HTTP status 500/);
    await control("up");
    expect(await sql`SELECT 3::int AS three`).toEqual([{ three: 3 }]);
  });
});

describe("started by npm run local:services", () => {
  it("--json prints its endpoint on one line and the endpoint serves queries", async () => {
    const services = await spawnLocalServices([
      ...["--redis-port", "0", "--neon-port", "0", "--bot-api-port", "0", "--postgres-url", DATABASE_URL],
    ]);
    try {
      const vars = services.vars;
      expect(vars.DATABASE_URL).toBe(DATABASE_URL);
      expect(vars.NEON_HTTP_ENDPOINT).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/sql$/);
      const res = await fetch(vars.NEON_HTTP_ENDPOINT ?? "", {
        method: "POST",
        headers: { "Neon-Connection-String": DATABASE_URL, "Neon-Raw-Text-Output": "true", "Neon-Array-Mode": "true" },
        body: JSON.stringify({ query: "SELECT $1::int + 1 AS n", params: ["41"] }),
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ command: "SELECT", rowCount: 1, rows: [["42"]], rowAsArray: true });
    } finally {
      await services.stop();
    }
  });
});

describe("close()", () => {
  it("closes open tunnels and stops serving", async () => {
    const other = await startNeonGateway();
    const client = new Client({ connectionString: DATABASE_URL });
    client.neonConfig.wsProxy = other.wsProxy;
    const ended = new Promise<void>((resolve) => client.on("end", () => resolve()));
    client.on("error", () => {});
    await client.connect();
    expect((await client.query("SELECT 1::int AS one")).rows).toEqual([{ one: 1 }]);

    await other.close();
    await ended;
    await expect(fetch(other.httpEndpoint, { method: "POST" })).rejects.toThrow();
  });
});
