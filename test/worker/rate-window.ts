/**
 * The rate limiter's sliding window weighs the previous minute's count down (and rounds it down), so a
 * burst that crosses a minute boundary is allowed one update more. Tests that count up to the limit
 * start early in a minute, with room for `needMs` before the next one.
 */
export async function startEarlyInMinute(needMs = 15_000): Promise<void> {
  const intoMinute = Date.now() % 60_000;
  if (intoMinute + needMs > 60_000) await new Promise((resolve) => setTimeout(resolve, 60_000 - intoMinute + 50));
}
