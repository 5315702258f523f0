// How the benchmark attributes service calls to the webhook request that waited for them.
import { describe, expect, it } from "vitest";
import { longestChain, shareOf } from "../../bench/lib/critical-path.js";
import type { TimedRequest } from "../../scripts/local/request-timing.js";

const window = { sentAt: 100, answeredAt: 200, nextSentAt: 300 };

describe("longestChain", () => {
  it("counts calls made one after another", () => {
    expect(longestChain([[110, 120], [121, 130], [131, 140]])).toBe(3);
  });

  it("counts calls in flight together as one step", () => {
    expect(longestChain([[110, 130], [111, 129], [112, 131]])).toBe(1);
  });

  it("finds the longest chain through parallel and sequential calls", () => {
    // A and B in parallel; C sent after A was answered (it may have waited for A); D after C.
    const calls: TimedRequest[] = [[110, 120], [111, 140], [125, 150], [151, 160]];
    expect(longestChain(calls)).toBe(3);
  });

  it("is 0 without calls", () => {
    expect(longestChain([])).toBe(0);
  });
});

describe("shareOf", () => {
  it("leaves out calls answered after the response (waitUntil work) and calls of other updates", () => {
    const calls: TimedRequest[] = [
      [90, 105], // the previous update's done mark
      [110, 120], // claim
      [150, 160], // session write
      [199, 210], // done mark after the response, sent just before the load saw the answer
      [205, 215], // after the response
      [300, 310], // the next update's claim
    ];
    expect(shareOf(window, calls)).toEqual({ sequential: 2, calls: 2, afterResponse: 2 });
  });

  it("counts a pipeline (one request) as one call and parallel calls as one step", () => {
    expect(shareOf(window, [[110, 120]])).toEqual({ sequential: 1, calls: 1, afterResponse: 0 });
    expect(shareOf(window, [[110, 150], [112, 148]])).toEqual({ sequential: 1, calls: 2, afterResponse: 0 });
  });
});
