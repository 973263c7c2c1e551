// Test doubles: a scriptable WebSocket and fetch, and small helpers.

export class FakeWebSocket {
  static instances = [];
  static reset() {
    FakeWebSocket.instances = [];
  }
  static get last() {
    return FakeWebSocket.instances.at(-1);
  }
  constructor(url) {
    this.url = url;
    this.readyState = 1; // open at once: the handshake is not what these tests are about
    this.sent = [];
    this.closedWith = null;
    this.onopen = this.onmessage = this.onclose = this.onerror = null;
    FakeWebSocket.instances.push(this);
  }
  get params() {
    return new URL(this.url).searchParams;
  }
  send(data) {
    if (this.readyState !== 1) throw new Error("send on a closed socket");
    this.sent.push(JSON.parse(data));
  }
  close(code = 1000, reason = "") {
    this.closedWith = { code, reason };
    this.serverClose(code, reason);
  }
  // server side
  deliver(message) {
    this.onmessage?.({ data: JSON.stringify(message) });
  }
  connected(seq, extra = {}) {
    this.deliver({
      type: "connected",
      data: { channel: "x", seq, server_time: new Date().toISOString(), heartbeat_s: 30, idle_timeout_s: 300, ...extra },
    });
  }
  serverClose(code, reason = "") {
    if (this.readyState === 3) return;
    this.readyState = 3;
    setTimeout(() => this.onclose?.({ code, reason }), 0);
  }
}

/** A fetch answering from `routes`: { "POST /api/v1/auth/refresh": (req) => Response|object }.
 * `fail` makes it throw like fetch does when the server is unreachable. */
export function fakeFetch(routes) {
  const calls = [];
  const fn = async (url, init = {}) => {
    const u = new URL(url);
    const key = `${init.method ?? "GET"} ${u.pathname}`;
    const body = typeof init.body === "string" ? JSON.parse(init.body) : init.body ? String(init.body) : undefined;
    const call = { key, url, headers: { ...(init.headers ?? {}) }, body };
    calls.push(call);
    if (fn.fail) throw new TypeError("fetch failed");
    const route = routes[key];
    if (!route) return json(404, { type: "about:blank", title: "Not Found", status: 404, detail: `no route ${key}` });
    const answer = await route(call);
    return answer instanceof Response ? answer : json(200, answer);
  };
  fn.calls = calls;
  fn.fail = false;
  return fn;
}

export function json(status, body, headers = {}) {
  const type = status >= 400 ? "application/problem+json" : "application/json";
  return new Response(status === 204 ? null : JSON.stringify(body), {
    status,
    headers: { "Content-Type": type, ...headers },
  });
}

/** A JWT-shaped token (unsigned) with this exp; the client only reads exp. */
export function token(name, expSeconds) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `${b64({ alg: "HS256" })}.${b64({ sub: name, exp: expSeconds })}.sig`;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function until(predicate, timeoutMs = 3000, what = "condition") {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}
