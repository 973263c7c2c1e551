import assert from "node:assert/strict";
import { afterEach, beforeEach, test } from "node:test";
import { OneTaskClient } from "../dist/index.js";
import { FakeWebSocket, fakeFetch, sleep, token, until } from "./fakes.mjs";

const BASE = "http://api.test";
const fast = { initialDelayMs: 10, maxDelayMs: 40 };
let clients = [];

function client(options = {}) {
  const c = new OneTaskClient({
    baseUrl: BASE,
    WebSocket: FakeWebSocket,
    fetch: fakeFetch({}),
    accessToken: token("a", Date.now() / 1000 + 3600),
    backoff: fast,
    ...options,
  });
  clients.push(c);
  return c;
}

beforeEach(() => FakeWebSocket.reset());
afterEach(() => {
  for (const c of clients) c.close();
  clients = [];
});

test("the socket URL names the channel, the token and (on resume) since", async () => {
  const c = client();
  c.subscribe({ workspace: 7 }, {});
  await until(() => FakeWebSocket.last);
  const url = new URL(FakeWebSocket.last.url);
  assert.equal(url.origin, "ws://api.test");
  assert.equal(url.pathname, "/api/v1/ws/workspaces/7/tasks");
  assert.equal(url.searchParams.get("token"), c.accessToken);
  assert.equal(url.searchParams.get("since"), null);
  c.subscribe("notifications", {}, { since: 41 });
  c.subscribe({ focusSession: "focus-3" }, {});
  await until(() => FakeWebSocket.instances.length === 3);
  assert.equal(new URL(FakeWebSocket.instances[1].url).pathname, "/api/v1/ws/notifications");
  assert.equal(FakeWebSocket.instances[1].params.get("since"), "41");
  assert.equal(new URL(FakeWebSocket.instances[2].url).pathname, "/api/v1/ws/focus-sessions/focus-3");
});

test("reconnects after 1001 with since = the last seq seen, and drops replayed duplicates", async () => {
  const c = client();
  const updates = [];
  const states = [];
  const sub = c.subscribe(
    { workspace: 1 },
    { task_update: (m) => updates.push(m.seq), onState: (s) => states.push(s) },
  );
  await until(() => FakeWebSocket.last);
  const first = FakeWebSocket.last;
  first.connected(5);
  assert.equal(sub.lastSeq, 5);
  for (const seq of [6, 7]) first.deliver({ type: "task_update", action: "created", seq, data: {} });
  first.serverClose(1001, "server shutting down or restarting");
  await until(() => FakeWebSocket.instances.length === 2, 3000, "a reconnect");
  const second = FakeWebSocket.last;
  assert.equal(second.params.get("since"), "7");
  second.connected(9);
  for (const seq of [7, 8, 9]) second.deliver({ type: "task_update", action: "updated", seq, data: {} });
  assert.deepEqual(updates, [6, 7, 8, 9]);
  assert.equal(sub.lastSeq, 9);
  assert.equal(sub.connects, 2);
  assert.deepEqual(states, ["open", "waiting", "connecting", "open"]);
  assert.equal(sub.lastClose.code, 1001);
  assert.equal(sub.lastClose.willRetry, true);
});

test("resync_required is surfaced and resets since to the server's seq", async () => {
  const c = client();
  const resyncs = [];
  const sub = c.subscribe({ workspace: 1 }, { resync_required: (m) => resyncs.push(m.data) }, { since: 999 });
  await until(() => FakeWebSocket.last);
  const ws = FakeWebSocket.last;
  assert.equal(ws.params.get("since"), "999");
  ws.connected(12);
  ws.deliver({ type: "resync_required", data: { reason: "ahead_of_server", since: 999, seq: 12 } });
  assert.deepEqual(resyncs, [{ reason: "ahead_of_server", since: 999, seq: 12 }]);
  assert.equal(sub.lastSeq, 12);
  ws.deliver({ type: "task_update", action: "created", seq: 13, data: {} });
  assert.equal(sub.lastSeq, 13);
});

for (const code of [4403, 4404, 1000, 4400, 1008]) {
  test(`close ${code} stops without reconnecting`, async () => {
    const c = client();
    let stopped = null;
    const sub = c.subscribe({ workspace: 1 }, { onStop: (info) => (stopped = info) });
    await until(() => FakeWebSocket.last);
    FakeWebSocket.last.connected(0);
    FakeWebSocket.last.deliver({ type: "error", data: { code: "access_revoked", detail: "gone" } });
    FakeWebSocket.last.serverClose(code, "reason");
    await until(() => stopped, 3000, "onStop");
    assert.equal(stopped.code, code);
    assert.equal(stopped.action, "stop");
    assert.equal(stopped.willRetry, false);
    assert.deepEqual(stopped.error, { code: "access_revoked", detail: "gone" });
    await sleep(150); // several backoff periods
    assert.equal(FakeWebSocket.instances.length, 1);
    assert.equal(sub.state, "stopped");
  });
}

for (const code of [4408, 4508, 1011, 1012, 1013, 1006]) {
  test(`close ${code} reconnects with backoff`, async () => {
    const c = client();
    const closes = [];
    c.subscribe({ workspace: 1 }, { onClose: (info) => closes.push(info) });
    await until(() => FakeWebSocket.last);
    FakeWebSocket.last.connected(3);
    FakeWebSocket.last.serverClose(code);
    await until(() => FakeWebSocket.instances.length === 2, 3000, "a reconnect");
    assert.equal(FakeWebSocket.last.params.get("since"), "3");
    assert.equal(closes[0].willRetry, true);
    assert.ok(closes[0].retryInMs >= 5 && closes[0].retryInMs <= 10, `first delay ${closes[0].retryInMs}`);
  });
}

test("delays grow while the server keeps refusing, and reset after connected", async () => {
  const c = client({ random: () => 1 });
  const delays = [];
  c.subscribe({ workspace: 1 }, { onClose: (info) => delays.push(info.retryInMs) });
  for (let i = 1; i <= 4; i++) {
    await until(() => FakeWebSocket.instances.length === i, 3000, `attempt ${i}`);
    FakeWebSocket.last.serverClose(1011);
  }
  await until(() => FakeWebSocket.instances.length === 5);
  FakeWebSocket.last.connected(0);
  FakeWebSocket.last.serverClose(1011);
  await until(() => delays.length === 5);
  assert.deepEqual(delays, [10, 20, 40, 40, 10]);
});

test("4429 waits at least slowRetryMs", async () => {
  const c = client();
  const closes = [];
  c.subscribe({ workspace: 1 }, { onClose: (info) => closes.push(info) }, { slowRetryMs: 200 });
  await until(() => FakeWebSocket.last);
  FakeWebSocket.last.serverClose(4429);
  await until(() => closes.length === 1);
  assert.equal(closes[0].action, "backoff");
  assert.ok(closes[0].retryInMs >= 200);
  await sleep(60);
  assert.equal(FakeWebSocket.instances.length, 1, "not reconnected before the slow delay");
  await until(() => FakeWebSocket.instances.length === 2, 3000);
});

test("4401: refreshes the token, then reconnects with the new one; a second 4401 stops", async () => {
  let n = 0;
  const fetch = fakeFetch({
    "POST /api/v1/auth/refresh": (req) => {
      n += 1;
      assert.equal(req.body.refresh_token, `r${n - 1}`);
      return { access_token: token(`a${n}`, Date.now() / 1000 + 3600), refresh_token: `r${n}`, token_type: "bearer", expires_in: 3600 };
    },
  });
  const c = client({ fetch, refreshToken: "r0" });
  let stopped = null;
  c.subscribe({ workspace: 1 }, { onStop: (info) => (stopped = info) });
  await until(() => FakeWebSocket.last);
  FakeWebSocket.last.connected(2);
  FakeWebSocket.last.serverClose(4401);
  await until(() => FakeWebSocket.instances.length === 2, 3000, "a reconnect after refresh");
  assert.equal(n, 1);
  assert.equal(FakeWebSocket.last.params.get("token"), c.accessToken);
  assert.equal(FakeWebSocket.last.params.get("since"), "2");
  FakeWebSocket.last.serverClose(4401); // refused again before `connected`: the new token is no good either
  await until(() => stopped, 3000, "stop");
  assert.equal(stopped.code, 4401);
  assert.equal(FakeWebSocket.instances.length, 2);
});

test("4401 without a refresh token stops", async () => {
  const c = client();
  let stopped = null;
  c.subscribe("notifications", { onStop: (info) => (stopped = info) });
  await until(() => FakeWebSocket.last);
  FakeWebSocket.last.serverClose(4401);
  await until(() => stopped);
  assert.equal(stopped.action, "relogin");
});

test("before the token expires: refresh, send auth on the open socket, wait for auth_ok", async () => {
  const issued = [];
  const fetch = fakeFetch({
    "POST /api/v1/auth/refresh": () => {
      const t = token(`a${issued.length + 1}`, Date.now() / 1000 + 0.8);
      issued.push(t);
      return { access_token: t, refresh_token: `r${issued.length}`, token_type: "bearer", expires_in: 0.8 };
    },
  });
  // Lives 0.8 s; the refresh comes a quarter of its lifetime early (0.2 s).
  const c = client({ fetch, accessToken: token("a0", Date.now() / 1000 + 0.8), refreshToken: "r0", expiresIn: 0.8 });
  const oks = [];
  const sub = c.subscribe({ workspace: 1 }, { auth_ok: (m) => oks.push(m.data.expires_at) });
  await until(() => FakeWebSocket.last);
  const ws = FakeWebSocket.last;
  ws.connected(0);
  const started = Date.now();
  await until(() => ws.sent.some((m) => m.type === "auth"), 3000, "auth sent");
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 450, `refreshed after ${elapsed} ms, before the margin`);
  const auth = ws.sent.find((m) => m.type === "auth");
  assert.equal(auth.token, issued[0]);
  assert.equal(auth.token, c.accessToken);
  ws.deliver({ type: "auth_ok", data: { expires_at: "2030-01-01T00:00:00Z" } });
  // and again for the next token: renewals go on as long as the session does
  await until(() => ws.sent.filter((m) => m.type === "auth").length === 2, 3000, "second auth");
  ws.deliver({ type: "auth_ok", data: { expires_at: "2030-01-01T00:00:01Z" } });
  await sleep(20);
  assert.equal(sub.renewals, 2);
  assert.deepEqual(oks, ["2030-01-01T00:00:00Z", "2030-01-01T00:00:01Z"]);
  assert.equal(FakeWebSocket.instances.length, 1, "the same connection throughout");
  assert.equal(sub.state, "open");
});

test("a refused auth (or none acknowledged) replaces the connection, resuming with since", async () => {
  const fetch = fakeFetch({
    "POST /api/v1/auth/refresh": () => ({ access_token: token("b", Date.now() / 1000 + 3600), refresh_token: "r1", token_type: "bearer", expires_in: 3600 }),
  });
  const c = client({ fetch, refreshToken: "r0" });
  const sub = c.subscribe({ workspace: 1 }, {}, { authTimeoutMs: 50 });
  await until(() => FakeWebSocket.last);
  const ws = FakeWebSocket.last;
  ws.connected(4);
  await c.refresh();
  assert.equal(ws.sent.at(-1).type, "auth");
  ws.deliver({ type: "error", data: { code: "invalid_token", detail: "Token rejected: expired." } });
  await until(() => FakeWebSocket.instances.length === 2, 3000, "a fresh connection");
  assert.equal(ws.closedWith.code, 4000);
  assert.equal(FakeWebSocket.last.params.get("since"), "4");
  assert.equal(FakeWebSocket.last.params.get("token"), c.accessToken);
  FakeWebSocket.last.connected(4);
  await c.refresh(); // this time nothing answers: replaced after authTimeoutMs
  await until(() => FakeWebSocket.instances.length === 3, 3000, "replaced after the auth timeout");
  assert.equal(sub.state === "connecting" || sub.state === "open", true);
});

test("a connection that hears nothing (not even pongs) is replaced", async () => {
  const c = client();
  c.subscribe({ workspace: 1 }, {}, { pingIntervalMs: 20 });
  await until(() => FakeWebSocket.last);
  const ws = FakeWebSocket.last;
  ws.connected(1);
  await until(() => ws.sent.some((m) => m.type === "ping"), 3000, "a ping");
  await until(() => FakeWebSocket.instances.length === 2, 3000, "a replacement");
  assert.equal(FakeWebSocket.last.params.get("since"), "1");
});

test("close() ends the subscription with 1000 and no reconnect", async () => {
  const c = client();
  let stops = 0;
  const sub = c.subscribe({ workspace: 1 }, { onStop: () => (stops += 1) });
  await until(() => FakeWebSocket.last);
  FakeWebSocket.last.connected(0);
  sub.close();
  assert.equal(FakeWebSocket.last.closedWith.code, 1000);
  await sleep(100);
  assert.equal(FakeWebSocket.instances.length, 1);
  assert.equal(stops, 1);
  assert.equal(sub.send({ type: "ping" }), false);
});
