// The Neon client of src/clients/db.ts: the driver loads on the first query, and failures keep their
// classification (a refused statement is a bug; anything a retry can fix is a DependencyError).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDb } from "../../src/clients/db.js";
import { DependencyError } from "../../src/lib/errors.js";
import { startNeonGateway, type NeonGateway } from "../../scripts/local/neon-gateway.js";

const DATABASE_URL = "postgres://postgres:unused@127.0.0.1:5432/test";

let gateway: NeonGateway;

beforeAll(async () => {
  gateway = await startNeonGateway();
});

afterAll(async () => {
  await gateway?.close();
});

/** What a call throws. */
async function failure(call: Promise<unknown>): Promise<unknown> {
  return call.then(
    () => expect.unreachable("the call succeeded"),
    (error: unknown) => error,
  );
}

describe("createDb", () => {
  it("queries and runs transactions through the driver it loads on the first query", async () => {
    const db = createDb({ url: DATABASE_URL, httpEndpoint: gateway.httpEndpoint });
    expect(await db.query<{ n: number }>("SELECT $1::int AS n", [7])).toEqual([{ n: 7 }]);
    expect(await db.transaction([{ text: "SELECT 1 AS a" }, { text: "SELECT 2 AS b" }])).toEqual([[{ a: 1 }], [{ b: 2 }]]);
  });

  it("passes on a statement Postgres refuses as the driver's NeonDbError, a bug", async () => {
    const db = createDb({ url: DATABASE_URL, httpEndpoint: gateway.httpEndpoint });
    const error = await failure(db.query("SELEC 1"));
    expect((error as Error).name).toBe("NeonDbError");
    expect(error).not.toBeInstanceOf(DependencyError);
    expect((error as { code?: string }).code).toBe("42601");
  });

  it("turns an unreachable database into DependencyError(postgres), keeping the cause", async () => {
    const db = createDb({ url: DATABASE_URL, httpEndpoint: "http://127.0.0.1:9/sql" });
    const error = await failure(db.query("SELECT 1"));
    expect(error).toBeInstanceOf(DependencyError);
    expect((error as DependencyError).dependency).toBe("postgres");
    expect((error as DependencyError).cause).toBeDefined();
  });
});
