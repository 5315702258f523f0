/**
 * Which service calls a webhook request waited for, from times recorded on one clock (the machine's
 * monotonic clock, `sharedClockMs`): the services record when each request arrived and was answered,
 * the load when each webhook request was sent and answered. Updates are sent one at a time, with a gap
 * after each answer, so every call belongs to the webhook request in whose window it arrived.
 */
import type { TimedRequest } from "../../scripts/local/request-timing.js";

/** One webhook request of a sequential pass: sent at `sentAt`, answered at `answeredAt`; the next one was sent at `nextSentAt`. */
export interface WebhookWindow {
  sentAt: number;
  answeredAt: number;
  nextSentAt: number;
}

/** What one service did for one webhook request. */
export interface ServiceShare {
  /** Sequential steps before the answer: the longest chain of calls each sent after the previous one was answered. */
  sequential: number;
  /** Calls answered before the webhook answer (parallel ones included). */
  calls: number;
  /** Calls that arrived during the request but were answered after it (e.g. work in `waitUntil`), or arrived after it. */
  afterResponse: number;
}

/**
 * A call is on the critical path when it arrived after the webhook request was sent and was answered
 * before the webhook answer came: only then can the answer have waited for it. A call still in flight
 * at the answer (or sent after it) cannot have been waited for. With an added latency per call, a call
 * made after the response is answered at least that latency after it was sent, so it cannot be mistaken
 * for one the response waited for.
 */
export function shareOf(window: WebhookWindow, requests: readonly TimedRequest[]): ServiceShare {
  const mine = requests.filter(([arrivedAt]) => arrivedAt >= window.sentAt && arrivedAt < window.nextSentAt);
  const before = mine.filter(([, answeredAt]) => answeredAt <= window.answeredAt);
  return { sequential: longestChain(before), calls: before.length, afterResponse: mine.length - before.length };
}

/**
 * The most calls that ran one after another: a call follows another when it arrived after that one was
 * answered. Calls in flight together (a Promise.all) are one step; a pipeline is one request, so one call.
 * Earliest-answered-first picks a longest such chain (the interval-scheduling argument).
 */
export function longestChain(requests: readonly TimedRequest[]): number {
  let steps = 0;
  let lastAnswer = Number.NEGATIVE_INFINITY;
  for (const [arrivedAt, answeredAt] of [...requests].sort((a, b) => a[1] - b[1])) {
    if (arrivedAt < lastAnswer) continue;
    steps++;
    lastAnswer = answeredAt;
  }
  return steps;
}
