import { Redis } from "@upstash/redis/cloudflare";
import { neon, neonConfig } from "@neondatabase/serverless";
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { exports } from "cloudflare:workers";
import type { Update } from "grammy/types";
import { inject } from "vitest";
import worker from "../../src/index.js";
import { FAILED_UPDATE_IDS_KEY, failedUpdateKey, type FailedUpdateRecord } from "../../src/webhook/failed-updates.js";
import { TEST_SECRETS } from "./bindings.js";

const ORIGIN = "https://mtt-pro-api.xlog.uz";

/** Calls the Worker under test through its fetch handler. */
export function callWorker(path: string, init?: RequestInit): Promise<Response> {
  return exports.default.fetch(new Request(`${ORIGIN}${path}`, init));
}

/**
 * What Telegram does with a webhook answer that carries a Bot API method: it runs the method, here on
 * the Bot API double, where it is recorded like any other call.
 */
async function runWebhookReply(response: Response): Promise<Response> {
  if (response.status !== 200 || !response.headers.get("content-type")?.includes("application/json")) return response;
  const reply = await response.clone().text();
  if (!reply.includes('"method"')) return response;
  await control(inject("botApiUrl"), "webhook-reply", { method: "POST", headers: { "Content-Type": "application/json" }, body: reply });
  return response;
}

/** How a test delivers: the secret (`null` leaves the header out), extra headers, the path, and whether a webhook reply is run. */
export interface DeliveryOptions {
  secret?: string | null;
  headers?: Record<string, string>;
  path?: string;
  /** Run the Bot API call riding on the answer, as Telegram does; default true. */
  runReply?: boolean;
}

/** Delivers an update the way Telegram does, running a webhook reply on the double. */
export async function deliver(update: unknown, options: DeliveryOptions = {}): Promise<Response> {
  const headers = new Headers({ "Content-Type": "application/json", ...options.headers });
  const secret = options.secret === undefined ? TEST_SECRETS.TELEGRAM_WEBHOOK_SECRET : options.secret;
  if (secret !== null) headers.set("X-Telegram-Bot-Api-Secret-Token", secret);
  const body = typeof update === "string" ? update : JSON.stringify(update);
  const response = await callWorker(options.path ?? "/bot/webhook/", { method: "POST", headers, body });
  return options.runReply === false ? response : runWebhookReply(response);
}

/** One call that reached the Bot API double. */
export interface RecordedCall {
  method: string;
  token: string;
  params: Record<string, unknown>;
  at: number;
}

async function control(base: string, path: string, init: RequestInit = {}): Promise<Response> {
  const response = await fetch(`${base}/__control/${path}`, init);
  if (!response.ok) throw new Error(`control ${path}: HTTP ${response.status}`);
  return response;
}

/** The Bot API double, seen from a test. */
export const botApi = {
  async calls(method?: string): Promise<RecordedCall[]> {
    const query = method === undefined ? "" : `?method=${method}`;
    return (await control(inject("botApiUrl"), `calls${query}`)).json();
  },
  /** Calls that concern one chat. */
  async callsFor(chatId: number, method?: string): Promise<RecordedCall[]> {
    return (await botApi.calls(method)).filter((call) => String(call.params.chat_id) === String(chatId));
  },
  async reset(): Promise<void> {
    await control(inject("botApiUrl"), "reset", { method: "POST" });
  },
  async addFault(fault: Record<string, unknown>): Promise<void> {
    await control(inject("botApiUrl"), "faults", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(fault),
    });
  },
  async clearFaults(): Promise<void> {
    await control(inject("botApiUrl"), "faults", { method: "DELETE" });
  },
};

const redisAuth = { Authorization: `Bearer ${TEST_SECRETS.UPSTASH_REDIS_REST_TOKEN}` };

/** The Redis gateway's switches and counters. */
export const redisGateway = {
  async down(): Promise<void> {
    await control(inject("redisGatewayUrl"), "down", { method: "POST", headers: redisAuth });
  },
  async hang(): Promise<void> {
    await control(inject("redisGatewayUrl"), "hang", { method: "POST", headers: redisAuth });
  },
  async up(): Promise<void> {
    await control(inject("redisGatewayUrl"), "up", { method: "POST", headers: redisAuth });
  },
  /** Answers every request as `fault` says: `edge/<code>` (Cloudflare's edge) or `http-error/<status>`. */
  async fail(fault: string): Promise<void> {
    await control(inject("redisGatewayUrl"), fault, { method: "POST", headers: redisAuth });
  },
  async stats(): Promise<{ requests: number; commands: number }> {
    return (await control(inject("redisGatewayUrl"), "stats", { headers: redisAuth })).json();
  },
  async resetStats(): Promise<void> {
    await control(inject("redisGatewayUrl"), "stats/reset", { method: "POST", headers: redisAuth });
  },
};

/** The Neon gateway's switches. */
export const neonGateway = {
  async down(): Promise<void> {
    await control(new URL(inject("neonHttpEndpoint")).origin, "down", { method: "POST" });
  },
  async hang(): Promise<void> {
    await control(new URL(inject("neonHttpEndpoint")).origin, "hang", { method: "POST" });
  },
  async up(): Promise<void> {
    await control(new URL(inject("neonHttpEndpoint")).origin, "up", { method: "POST" });
  },
  /** Answers every `/sql` request as `fault` says: `edge/<code>` (Cloudflare's edge) or `http-error/<status>`. */
  async fail(fault: string): Promise<void> {
    await control(new URL(inject("neonHttpEndpoint")).origin, fault, { method: "POST" });
  },
  async stats(): Promise<{ requests: number; connections: number }> {
    return (await control(new URL(inject("neonHttpEndpoint")).origin, "stats")).json();
  },
  async resetStats(): Promise<void> {
    await control(new URL(inject("neonHttpEndpoint")).origin, "stats/reset", { method: "POST" });
  },
};

/** The real Redis behind the gateway, through the official client, for assertions. */
export function testRedis(): Redis {
  return new Redis({ url: inject("redisGatewayUrl"), token: TEST_SECRETS.UPSTASH_REDIS_REST_TOKEN, enableTelemetry: false });
}

/** What the failed-update store keeps of an update, read straight from Redis; undefined when nothing. */
export async function failedRecord(updateId: number): Promise<FailedUpdateRecord | undefined> {
  return (await testRedis().get<FailedUpdateRecord>(failedUpdateKey(updateId))) ?? undefined;
}

/** The ids in the failed-update index, newest first. */
export async function failedUpdateIds(): Promise<number[]> {
  return (await testRedis().zrange<string[]>(FAILED_UPDATE_IDS_KEY, 0, -1, { rev: true })).map(Number);
}

/** The real PostgreSQL behind the gateway, through the official client, for assertions. */
export function testSql(): ReturnType<typeof neon> {
  neonConfig.fetchEndpoint = inject("neonHttpEndpoint");
  return neon(inject("databaseUrl"));
}

/** The update as the test sent it, for typing convenience. */
export type { Update };

/** The test bindings with some changed; `undefined` removes a binding. */
export function bindingsWith(overrides: Record<string, string | undefined>): Env {
  return { ...env, ...overrides } as Env;
}

/**
 * Calls the Worker's fetch handler directly with the given bindings (still inside workerd), for
 * behaviour that depends on configuration. One bindings object is one isolate's runtime.
 * Resolves after the response and the work it left running (`waitUntil`) are done.
 */
export async function fetchWithBindings(bindings: Env, path: string, init?: RequestInit): Promise<Response> {
  const ctx = createExecutionContext();
  const response = await worker.fetch(new Request(`${ORIGIN}${path}`, init), bindings, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

/** `fetchWithBindings` with fresh bindings changed by `overrides`. */
export function callWorkerWith(
  overrides: Record<string, string | undefined>,
  path: string,
  init?: RequestInit,
): Promise<Response> {
  return fetchWithBindings(bindingsWith(overrides), path, init);
}

/**
 * Delivers an update as Telegram does (running a webhook reply on the double), to the Worker with some
 * bindings changed; waits for its background work.
 */
export async function deliverWith(
  overrides: Record<string, string | undefined>,
  update: unknown,
  options: Pick<DeliveryOptions, "runReply"> = {},
): Promise<Response> {
  const response = await callWorkerWith(overrides, "/bot/webhook/", {
    method: "POST",
    headers: { "X-Telegram-Bot-Api-Secret-Token": TEST_SECRETS.TELEGRAM_WEBHOOK_SECRET },
    body: JSON.stringify(update),
  });
  return options.runReply === false ? response : runWebhookReply(response);
}
