import assert from "node:assert/strict";
import { test } from "node:test";
import { backoffDelay, DEFAULT_BACKOFF } from "../dist/index.js";

test("the ceiling doubles per attempt up to the maximum", () => {
  const top = (attempt) => backoffDelay(attempt, { initialDelayMs: 100, maxDelayMs: 1000 }, () => 0.999999);
  const ceilings = [0, 1, 2, 3, 4, 5, 10].map((a) => Math.round(top(a)));
  assert.deepEqual(ceilings, [100, 200, 400, 800, 1000, 1000, 1000]);
});

test("jitter draws from the ceiling's upper half, never zero", () => {
  const opts = { initialDelayMs: 400, maxDelayMs: 10_000 };
  assert.equal(backoffDelay(0, opts, () => 0), 200);
  assert.equal(backoffDelay(0, opts, () => 0.5), 300);
  const seen = new Set();
  for (let i = 0; i < 500; i++) {
    const d = backoffDelay(3, opts); // ceiling 3200
    assert.ok(d >= 1600 && d <= 3200, `delay ${d}`);
    seen.add(Math.floor(d / 160));
  }
  assert.ok(seen.size >= 8, "delays are spread over the range, not one value");
});

test("defaults: half a second first, thirty seconds at most", () => {
  assert.deepEqual(DEFAULT_BACKOFF, { initialDelayMs: 500, maxDelayMs: 30_000, factor: 2 });
  assert.ok(backoffDelay(50) <= 30_000 && backoffDelay(50) >= 15_000);
});
