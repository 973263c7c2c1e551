import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { ApiError, NetworkError, OneTaskClient, webStorageQueue } from "../dist/index.js";
import { fakeFetch, json, sleep, token, until } from "./fakes.mjs";

const BASE = "http://api.test/";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
let clients = [];
function client(options) {
  const c = new OneTaskClient({ baseUrl: BASE, backoff: { initialDelayMs: 10, maxDelayMs: 40 }, ...options });
  clients.push(c);
  return c;
}
afterEach(() => {
  for (const c of clients) c.close();
  clients = [];
});

const pair = (name, expiresIn = 900) => ({
  access_token: token(name, Date.now() / 1000 + expiresIn),
  refresh_token: `refresh-${name}`,
  token_type: "bearer",
  expires_in: expiresIn,
});

test("login posts the form, keeps the tokens and sends them as Bearer", async () => {
  const fetch = fakeFetch({
    "POST /api/v1/auth/login": (req) => {
      assert.equal(req.body, "username=alice&password=s3cret+pw");
      return pair("alice");
    },
    "GET /api/v1/users/me": (req) => ({ id: 1, username: "alice", auth: req.headers.Authorization }),
  });
  const saved = [];
  const c = client({ fetch, onTokens: (t) => saved.push(t) });
  const tokens = await c.login("alice", "s3cret pw");
  assert.equal(c.accessToken, tokens.access_token);
  assert.ok(Math.abs(c.accessTokenExpiresAt - (Date.now() + 900_000)) < 5_000);
  assert.equal((await c.me()).auth, `Bearer ${tokens.access_token}`);
  assert.equal(saved.length, 1);
  assert.equal(fetch.calls[0].url, "http://api.test/api/v1/auth/login");
});

test("problem+json errors become ApiError with status, title, detail and Retry-After", async () => {
  const fetch = fakeFetch({
    "GET /api/v1/tasks/9": () =>
      json(404, { type: "https://onetask.dev/problems/not-found", title: "Not found", status: 404, detail: "Task 9 not found." }),
    "POST /api/v1/workspaces/1/tasks": () =>
      json(422, { title: "Validation failed", status: 422, detail: "1 invalid field", errors: [{ loc: ["body", "title"] }] }),
    "POST /api/v1/auth/login": () => json(429, { title: "Too many requests", status: 429 }, { "Retry-After": "7" }),
  });
  const c = client({ fetch, accessToken: token("a", Date.now() / 1000 + 900) });
  await assert.rejects(c.tasks.get(9), (e) => {
    assert.ok(e instanceof ApiError);
    assert.equal(e.status, 404);
    assert.equal(e.title, "Not found");
    assert.equal(e.detail, "Task 9 not found.");
    assert.equal(e.type, "https://onetask.dev/problems/not-found");
    return true;
  });
  await assert.rejects(c.tasks.create(1, { title: "" }), (e) => e.status === 422 && e.errors.length === 1);
  await assert.rejects(c.login("a", "b"), (e) => e.status === 429 && e.retryAfter === 7);
  assert.equal(c.pendingWrites.length, 0, "refused writes are not queued");
});

test("a 401 refreshes the access token once and retries", async () => {
  let refreshed = 0;
  const fetch = fakeFetch({
    "POST /api/v1/auth/refresh": (req) => {
      refreshed += 1;
      assert.equal(req.body.refresh_token, "r0");
      return pair("fresh");
    },
    "GET /api/v1/workspaces": (req) =>
      req.headers.Authorization.includes(token("stale", 1)) ? json(401, { title: "Unauthorized", status: 401 }) : [{ id: 1 }],
  });
  const c = client({ fetch, accessToken: token("stale", 1), refreshToken: "r0" });
  assert.deepEqual(await c.workspaces.list(), [{ id: 1 }]);
  assert.equal(refreshed, 1);
  const claims = JSON.parse(Buffer.from(c.accessToken.split(".")[1], "base64url").toString());
  assert.equal(claims.sub, "fresh");
});

test("REST helpers use the documented paths, queries and conditional headers", async () => {
  const fetch = fakeFetch({
    "GET /api/v1/workspaces/3/tasks": () => ({ items: [], next_cursor: null }),
    "PATCH /api/v1/tasks/5": () => ({ id: 5 }),
    "POST /api/v1/tasks/5/complete": () => ({ id: 5 }),
    "DELETE /api/v1/tasks/5": () => json(204, null),
    "POST /api/v1/notifications/read-all": () => ({ count: 2 }),
    "POST /api/v1/focus-sessions/focus-1/join": () => ({ id: "focus-1" }),
  });
  const c = client({ fetch, accessToken: token("a", Date.now() / 1000 + 900) });
  await c.tasks.list(3, { status: "todo", q: "milk buy", limit: 5, assignee_id: undefined });
  await c.tasks.update(5, { priority: "high" }, 4);
  await c.tasks.complete(5);
  assert.equal(await c.tasks.delete(5), undefined);
  assert.deepEqual(await c.notifications.markAllRead(), { count: 2 });
  await c.focus.join("focus-1", { status: "active" });
  const [list, patch, complete] = fetch.calls;
  assert.equal(list.url, "http://api.test/api/v1/workspaces/3/tasks?status=todo&q=milk+buy&limit=5");
  assert.equal(list.headers["Idempotency-Key"], undefined, "reads carry no key");
  assert.equal(patch.headers["If-Match"], '"4"');
  assert.deepEqual(patch.body, { priority: "high" });
  for (const write of fetch.calls.slice(1)) assert.match(write.headers["Idempotency-Key"], UUID);
  assert.notEqual(patch.headers["Idempotency-Key"], complete.headers["Idempotency-Key"]);
});

test("offline: writes are queued, then sent in order with their Idempotency-Key once back", async () => {
  let created = 0;
  const fetch = fakeFetch({
    "POST /api/v1/workspaces/1/tasks": (req) => ({ id: ++created, title: req.body.title }),
    "PATCH /api/v1/tasks/1": (req) => ({ id: 1, ...req.body }),
    "GET /api/v1/tasks/1": () => ({ id: 1 }),
  });
  const events = [];
  const c = client({ fetch, accessToken: token("a", Date.now() / 1000 + 900), onQueue: (e) => events.push(e.type) });
  fetch.fail = true;
  const first = c.tasks.create(1, { title: "one" });
  const second = c.tasks.update(1, { title: "two" });
  const third = c.tasks.create(1, { title: "three" });
  await until(() => c.pendingWrites.length === 3, 3000, "three queued writes");
  await assert.rejects(c.tasks.get(1), NetworkError, "reads are not queued");
  const keys = c.pendingWrites.map((w) => w.key);
  assert.equal(new Set(keys).size, 3);
  for (const key of keys) assert.match(key, UUID);
  await sleep(120); // a few failed resends (with backoff)
  fetch.fail = false;
  assert.deepEqual(await first, { id: 1, title: "one" });
  assert.deepEqual(await second, { id: 1, title: "two" });
  assert.deepEqual(await third, { id: 2, title: "three" });
  const sent = fetch.calls.filter((call) => call.key !== "GET /api/v1/tasks/1");
  const delivered = sent.slice(-3);
  assert.deepEqual(delivered.map((call) => call.body.title), ["one", "two", "three"]);
  assert.deepEqual(delivered.map((call) => call.headers["Idempotency-Key"]), keys);
  const resends = sent.filter((call) => call.headers["Idempotency-Key"] === keys[0]);
  assert.ok(resends.length >= 3, "the first write was tried again, with the same key");
  assert.equal(c.pendingWrites.length, 0);
  assert.deepEqual([...new Set(events)].sort(), ["queued", "sent", "waiting"]);
});

test("a 503 queues the write too; a queued write the server refuses rejects and the rest go on", async () => {
  let down = true;
  const fetch = fakeFetch({
    "POST /api/v1/workspaces/1/tasks": (req) =>
      down ? json(503, { title: "Service unavailable", status: 503 }) : req.body.title === "bad" ? json(422, { title: "Invalid", status: 422 }) : { id: 1, title: req.body.title },
  });
  const failed = [];
  const c = client({ fetch, accessToken: token("a", Date.now() / 1000 + 900), onQueue: (e) => e.type === "failed" && failed.push(e.error.status) });
  const bad = c.tasks.create(1, { title: "bad" });
  const good = c.tasks.create(1, { title: "good" });
  await until(() => c.pendingWrites.length === 2);
  down = false;
  await assert.rejects(bad, (e) => e instanceof ApiError && e.status === 422);
  assert.deepEqual(await good, { id: 1, title: "good" });
  assert.deepEqual(failed, [422]);
});

test("a pluggable storage keeps the queue for the next page, which sends it", async () => {
  const map = new Map();
  const store = { getItem: (k) => map.get(k) ?? null, setItem: (k, v) => map.set(k, v) };
  const fetch = fakeFetch({ "POST /api/v1/notifications/7/read": () => ({ id: 7, read: true }) });
  fetch.fail = true;
  const tab = client({ fetch, accessToken: token("a", Date.now() / 1000 + 900), queueStorage: webStorageQueue(store) });
  void tab.notifications.markRead(7);
  await until(() => JSON.parse(map.get("onetask-offline-queue") ?? "[]").length === 1, 3000, "persisted");
  const [kept] = JSON.parse(map.get("onetask-offline-queue"));
  assert.equal(kept.path, "/notifications/7/read");
  tab.close(); // the page goes away

  const fetch2 = fakeFetch({ "POST /api/v1/notifications/7/read": () => ({ id: 7, read: true }) });
  const sent = [];
  client({ fetch: fetch2, accessToken: token("a", Date.now() / 1000 + 900), queueStorage: webStorageQueue(store), onQueue: (e) => e.type === "sent" && sent.push(e.result) });
  await until(() => sent.length === 1, 3000, "sent by the next page");
  assert.equal(fetch2.calls[0].headers["Idempotency-Key"], kept.key);
  assert.deepEqual(JSON.parse(map.get("onetask-offline-queue")), []);
});

test("offlineQueue: false surfaces NetworkError at once", async () => {
  const fetch = fakeFetch({});
  fetch.fail = true;
  const c = client({ fetch, accessToken: token("a", Date.now() / 1000 + 900), offlineQueue: false });
  await assert.rejects(c.tasks.create(1, { title: "x" }), NetworkError);
  assert.equal(c.pendingWrites.length, 0);
});

test("queued writes wait through a lost login and go out after the next one", async () => {
  let valid = "none";
  const fetch = fakeFetch({
    "POST /api/v1/workspaces/1/tasks": (req) =>
      req.headers.Authorization === `Bearer ${valid}` ? { id: 1, title: req.body.title } : json(401, { title: "Unauthorized", status: 401 }),
    "POST /api/v1/auth/login": () => {
      const p = pair("again");
      valid = p.access_token;
      return p;
    },
  });
  const c = client({ fetch, accessToken: token("old", Date.now() / 1000 + 900) });
  fetch.fail = true;
  const write = c.tasks.create(1, { title: "kept" });
  await until(() => c.pendingWrites.length === 1);
  fetch.fail = false;
  await c.flushQueue(); // 401 and no refresh token: kept, not dropped
  assert.equal(c.pendingWrites.length, 1);
  await c.login("alice", "pw");
  assert.deepEqual(await write, { id: 1, title: "kept" });
  assert.equal(c.pendingWrites.length, 0);
});
