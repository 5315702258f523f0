import type {} from "vitest";

/** Ports and addresses the global setup hands to the Worker under test. */
export interface ProvidedLocalServices {
  botApiUrl: string;
  redisGatewayUrl: string;
  neonHttpEndpoint: string;
  databaseUrl: string;
}

/** Secrets used by the workerd tests: made up, valid in shape, known to the local doubles. */
export const TEST_SECRETS = {
  TELEGRAM_BOT_TOKEN: "7000000001:local-test-token",
  TELEGRAM_WEBHOOK_SECRET: "test_webhook_secret_0123456789abcdef0123456789abcdef",
  UPSTASH_REDIS_REST_TOKEN: "test-upstash-token",
  BOT_INTERNAL_API_TOKEN: "test-internal-api-token-0123456789",
} as const;

type Inject = <K extends keyof ProvidedLocalServices>(key: K) => ProvidedLocalServices[K];

/** Bindings for the Worker under test, pointing it at the local gateways and the Bot API double. */
export function workerTestBindings(inject: Inject): Record<string, string> {
  return {
    ...TEST_SECRETS,
    TELEGRAM_API_ROOT: inject("botApiUrl"),
    UPSTASH_REDIS_REST_URL: inject("redisGatewayUrl"),
    DATABASE_URL: inject("databaseUrl"),
    NEON_HTTP_ENDPOINT: inject("neonHttpEndpoint"),
  };
}

declare module "vitest" {
  export interface ProvidedContext extends ProvidedLocalServices {}
}
