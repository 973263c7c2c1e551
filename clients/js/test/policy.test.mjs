import assert from "node:assert/strict";
import { test } from "node:test";
import { CLOSE_CODES, closeAction, describeClose } from "../dist/index.js";

test("close codes map to the README's what-to-do", () => {
  const expected = {
    stop: [1000, 1002, 1007, 1008, 1009, 4400, 4403, 4404],
    relogin: [4401],
    reconnect: [1001, 1006, 1011, 1012, 1013, 4408, 4508, 4999],
    backoff: [4429],
  };
  for (const [action, codes] of Object.entries(expected)) {
    for (const code of codes) assert.equal(closeAction(code), action, `code ${code}`);
  }
});

test("the table is the server's (generated from x-close-codes), with meaning and advice", () => {
  assert.deepEqual(
    Object.keys(CLOSE_CODES).map(Number),
    [1000, 1001, 1002, 1007, 1008, 1009, 1011, 4400, 4401, 4403, 4404, 4408, 4429, 4508],
  );
  assert.match(describeClose(4403).meaning, /removed/);
  assert.equal(describeClose(1006).action, "reconnect");
  assert.match(describeClose(1012).meaning, /1012/);
});
