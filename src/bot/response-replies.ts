import { GrammyError, InputFile, type Api, type Middleware, type Transformer } from "grammy";
import type { Update } from "grammy/types";
import type { BotContext } from "./context.js";

/** A Bot API call held back from the network. */
interface HeldCall {
  method: string;
  payload: Record<string, unknown>;
}

/** What one update's Bot API calls have done so far. */
interface UpdateCalls {
  /** The latest call of a reply method, not sent yet: it rides on the webhook response unless another call follows. */
  held: HeldCall | undefined;
  /** A call took effect: a message was sent, edited, deleted, a button answered… */
  visible: boolean;
}

/**
 * The result a held call resolves with. The real one only exists once Telegram has run the call, after
 * the response: a handler that reads it (a `message_id`, say) fails loudly instead of reading nothing.
 */
function heldResult(method: string): unknown {
  return new Proxy(
    {},
    {
      get(_target, property) {
        // Awaiting the result looks for `then`; that must find nothing.
        if (property === "then" || typeof property === "symbol") return undefined;
        throw new Error(`the result of ${method} is not available: it rides on the webhook response (WEBHOOK_REPLY_METHODS)`);
      },
    },
  );
}

function carriesFile(payload: Record<string, unknown>): boolean {
  return Object.values(payload).some((value) => value instanceof InputFile);
}

/**
 * Makes the call a webhook answer carries (`{"method": …, …params}`) as a request of its own, as Telegram
 * would have when it got the answer (the answer never reached Telegram, or is being replayed).
 */
export async function callWebhookReply(api: Api, reply: string | { method: string }): Promise<unknown> {
  const { method, ...params } = (typeof reply === "string" ? JSON.parse(reply) : reply) as { method: string };
  return api.raw[method as "sendMessage"](params as never);
}

/**
 * Replies on the webhook response, the Worker's fast path: the last Bot API call of an update, when it is
 * a method whose result handlers do not use, is returned as the webhook response instead of being a
 * request of its own. Each such call is held until the next call: if one follows, the held call is sent
 * first as a normal request, so what the user sees keeps its order; if none follows, it rides on the
 * response. Also remembers which updates already changed what the user sees, so the failure policy never
 * answers such an update with a redelivery that would do it again.
 */
export class ResponseReplies {
  readonly #calls = new WeakMap<Update, UpdateCalls>();

  /** @param methods Bot API methods that may ride on the response (WEBHOOK_REPLY_METHODS). */
  constructor(private readonly methods: ReadonlySet<string>) {}

  /** True once a Bot API call made for this update has taken effect (reads and a held call do not count). */
  hasVisibleEffects(update: Update): boolean {
    return this.#calls.get(update)?.visible ?? false;
  }

  /**
   * Takes the call held for the response as its body (`{"method": …, …params}`), or undefined. Once taken,
   * a later call no longer sends it first.
   */
  takeReply(update: Update): string | undefined {
    const calls = this.#calls.get(update);
    const held = calls?.held;
    if (calls === undefined || held === undefined) return undefined;
    calls.held = undefined;
    return JSON.stringify({ method: held.method, ...held.payload });
  }

  /** Middleware that routes the update's own `ctx.api` calls; install it before any handler. */
  readonly middleware: Middleware<BotContext> = (ctx, next) => {
    const calls: UpdateCalls = { held: undefined, visible: false };
    this.#calls.set(ctx.update, calls);
    const route: Transformer = async (call, method, payload, signal) => {
      const earlier = calls.held;
      if (earlier !== undefined) {
        calls.held = undefined;
        const sent = await call(earlier.method as never, earlier.payload as never, signal);
        // The handler took the held call for done; its failure surfaces here, under its own name.
        if (!sent.ok) throw new GrammyError(`Call to '${earlier.method}' failed!`, sent, earlier.method, earlier.payload);
        calls.visible = true;
      }
      const body = (payload ?? {}) as Record<string, unknown>;
      if (this.methods.has(method) && !carriesFile(body)) {
        calls.held = { method, payload: body };
        return { ok: true, result: heldResult(method) as never };
      }
      const result = await call(method, payload, signal);
      if (result.ok && !method.startsWith("get")) calls.visible = true;
      return result;
    };
    ctx.api.config.use(route);
    return next();
  };
}
