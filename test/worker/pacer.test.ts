import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Slot } from "../../src/notifications/pacer.js";

let seq = 0;
/** A pacer of its own for each test. */
const freshPacer = () => env.NOTIFICATION_PACER.get(env.NOTIFICATION_PACER.idFromName(`pacer-test:${Date.now()}:${seq++}`));
const chats = (n: number, from = 1) => Array.from({ length: n }, (_, i) => String(1_000_000 + from + i));
const times = (slots: Slot[]) => slots.flatMap((slot) => ("at" in slot ? [slot.at] : []));

/** The most slots in any window of `ms`. */
function busiest(at: number[], ms: number): number {
  const sorted = [...at].sort((a, b) => a - b);
  let most = 0;
  for (let start = 0, end = 0; end < sorted.length; end++) {
    while ((sorted[end] ?? 0) - (sorted[start] ?? 0) >= ms) start++;
    most = Math.max(most, end - start + 1);
  }
  return most;
}

describe("NotificationPacer", () => {
  it("spaces a run's slots evenly at the rate and books no more than a second ahead", async () => {
    const pacer = freshPacer();
    const slots = await pacer.reserve(chats(40), { rate: 20 });
    const granted = times(slots);
    // 20/s over a 1020 ms window: 51 ms apart, and only the first second's worth is booked.
    expect(granted.length).toBeGreaterThanOrEqual(19);
    expect(granted.length).toBeLessThanOrEqual(21);
    for (let i = 1; i < granted.length; i++) expect((granted[i] ?? 0) - (granted[i - 1] ?? 0)).toBeCloseTo(51, 0);
    for (const slot of slots.slice(granted.length)) expect("wait" in slot && slot.wait).toBeGreaterThan(0);
  });

  it("never books more than the rate in any one-second window, however it is asked", async () => {
    const pacer = freshPacer();
    const all: number[] = [];
    for (let round = 0; round < 8; round++) {
      all.push(...times(await pacer.reserve(chats(30, round * 30), { rate: 50, horizonMs: 5000 })));
      await new Promise((resolve) => setTimeout(resolve, round % 2 === 0 ? 50 : 400));
    }
    expect(all.length).toBeGreaterThan(100);
    expect(busiest(all, 1000)).toBeLessThanOrEqual(50);
  });

  it("one message per second per chat, 20 per minute per group", async () => {
    const pacer = freshPacer();
    const [first] = await pacer.reserve(["42"], { rate: 30 });
    expect(first).toHaveProperty("at");
    const [second] = await pacer.reserve(["42"], { rate: 30 });
    expect("wait" in second! && second.wait).toBeGreaterThan(1000);

    // A group that had 20 messages in the last minute (as if sent over the last 50 s) waits for the oldest to age out.
    const group = "-1001234567890";
    await runInDurableObject(pacer, (_instance, state) => {
      for (let i = 0; i < 20; i++) state.storage.sql.exec("INSERT INTO group_sends VALUES (?, ?)", group, Date.now() - 50_000 + i * 2500);
    });
    const [groupSlot] = await pacer.reserve([group], { rate: 30 });
    expect("wait" in groupSlot! && groupSlot.wait).toBeGreaterThan(9000);
    expect("wait" in groupSlot! && groupSlot.wait).toBeLessThan(12_000);
  });

  it("a 429 outside a group slows the bot down and holds the chat for retry_after", async () => {
    const pacer = freshPacer();
    expect(await pacer.speed()).toBe(1);
    await pacer.throttled([{ chatId: "77", retryAfterSeconds: 3 }]);
    expect(await pacer.speed()).toBeCloseTo(0.95, 1);
    const [slot] = await pacer.reserve(["77"], { rate: 30 });
    expect("wait" in slot! && slot.wait).toBeGreaterThan(2900);
    // A group's 429 is its own per-minute limit: the bot does not slow down for it.
    const group = freshPacer();
    await group.throttled([{ chatId: "-100777", retryAfterSeconds: 30 }]);
    expect(await group.speed()).toBe(1);
  });

  it("keeps what it knows in storage: an evicted pacer goes on where it stopped", async () => {
    const pacer = freshPacer();
    const [before] = await pacer.reserve(["5"], { rate: 30 });
    expect(before).toHaveProperty("at");
    await evictDurableObject(pacer);
    const [after] = await pacer.reserve(["5"], { rate: 30 });
    expect(after).toHaveProperty("wait");
  });
});
