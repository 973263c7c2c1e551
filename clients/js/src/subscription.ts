/** One resumable WebSocket subscription (workspace tasks, notifications or a focus session). */
import { backoffDelay, type BackoffOptions } from "./backoff.js";
import { AuthRequiredError } from "./errors.js";
import type { CloseAction, ErrorData } from "./generated/protocol.js";
import { describeClose } from "./policy.js";

/** The part of the WebSocket API the client uses (the browser's, or the `ws` package's). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export type SubscriptionState = "connecting" | "open" | "waiting" | "stopped";

/** A close, as reported to `onClose`: the code's meaning and what happens next. */
export interface CloseInfo {
  code: number;
  /** The close frame's reason (the server sends the code's meaning). */
  reason: string;
  meaning: string;
  clientShould: string;
  action: CloseAction;
  /** The `error` message received just before the close, if any. */
  error: ErrorData | null;
  /** What the subscription does: reconnect after `retryInMs`, or stop. */
  willRetry: boolean;
  retryInMs: number | null;
}

type Typed = { type: string };
type ByType<M extends Typed> = {
  [K in M["type"]]?: (message: Extract<M, { type: K }>, subscription: Subscription<M>) => void;
};

export interface Lifecycle<M extends Typed> {
  /** Every server message (duplicates of a resume dropped), before its type's handler. */
  onMessage?: (message: M, subscription: Subscription<M>) => void;
  onState?: (state: SubscriptionState, subscription: Subscription<M>) => void;
  onClose?: (info: CloseInfo, subscription: Subscription<M>) => void;
  /** The subscription stopped for good: a close code that says stop (4403, 4404…), a token
   * that cannot be renewed, or close(). */
  onStop?: (info: CloseInfo | null, subscription: Subscription<M>) => void;
}

/** Handlers by wire message type (`task_update`, `resync_required`, `connected`, `auth_ok`,
 * `error`…), typed from the generated protocol, plus lifecycle callbacks. */
export type SubscriptionHandlers<M extends Typed> = ByType<M> & Lifecycle<M>;

export interface SubscriptionOptions {
  /** Resume after this seq on the first connection (e.g. one kept from an earlier page). */
  since?: number | null;
  /** Send `{"type":"ping"}` this often while open (default: half the server's idle
   * timeout, at most 25 s); a connection that then hears nothing for two periods is
   * dropped and reconnected. 0 turns it off. */
  pingIntervalMs?: number;
  /** How long to wait for `auth_ok` after sending `auth` (default 10 s) before reconnecting. */
  authTimeoutMs?: number;
  /** Least delay after 4429 (rate limited), in ms (default 5 000). */
  slowRetryMs?: number;
}

/** What a subscription needs from its client. */
export interface SubscriptionHost {
  url(token: string, since: number | null): string;
  token(): Promise<string>;
  refresh(): Promise<string>;
  canRefresh(): boolean;
  onToken(listener: (token: string) => void): () => void;
  connected(): void;
  forget(subscription: Subscription<Typed>): void;
  WebSocket: WebSocketConstructor;
  backoff: Partial<BackoffOptions>;
  random: () => number;
}

const OPEN = 1;
const REAUTH_FAILED = 4000; // our own close: the connection is replaced by a fresh one

type Timer = ReturnType<typeof setTimeout>;

export class Subscription<M extends Typed> {
  state: SubscriptionState = "connecting";
  /** The last seq seen on the channel: the `since` of the next connection. */
  lastSeq: number | null;
  /** Connections that got `connected`. */
  connects = 0;
  /** Reconnect attempts since the last `connected`. */
  attempt = 0;
  lastClose: CloseInfo | null = null;
  /** `auth_ok` messages received (the token was renewed in-band). */
  renewals = 0;
  private ws: WebSocketLike | null = null;
  private timer: Timer | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private lastHeard = 0;
  private lastError: ErrorData | null = null;
  private relogged = false;
  private replacing = false;
  private authWait: { resolve: () => void; reject: (e: Error) => void } | null = null;
  private readonly unlisten: () => void;

  constructor(
    private readonly host: SubscriptionHost,
    private readonly handlers: SubscriptionHandlers<M>,
    private readonly options: SubscriptionOptions = {},
  ) {
    this.lastSeq = options.since ?? null;
    this.unlisten = host.onToken((token) => void this.renew(token));
  }

  start(): void {
    void this.open();
  }

  /** Send a client message (ping, status_change, set_task…); false when not connected. */
  send(message: Typed | string): boolean {
    if (!this.ws || this.ws.readyState !== OPEN) return false;
    this.ws.send(typeof message === "string" ? message : JSON.stringify(message));
    return true;
  }

  /** Close for good (1000); no reconnect. */
  close(): void {
    if (this.state === "stopped") return;
    this.clearTimers();
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      detach(ws);
      try {
        ws.close(1000, "client closed");
      } catch {
        /* already closing */
      }
    }
    this.stop(null);
  }

  /** While waiting to reconnect: reconnect now (the network is back). */
  retryNow(): void {
    if (this.state !== "waiting") return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    void this.open();
  }

  private async open(): Promise<void> {
    this.timer = null;
    if (this.state === "stopped") return;
    this.setState("connecting");
    let token: string;
    try {
      token = await this.host.token();
    } catch (error) {
      if (this.stopped()) return;
      if (error instanceof AuthRequiredError) {
        this.stop(this.syntheticClose(4401, false));
      } else {
        this.retry(this.syntheticClose(1006, true)); // refresh unreachable: try again later
      }
      return;
    }
    if (this.stopped()) return;
    this.lastError = null;
    const ws = new this.host.WebSocket(this.host.url(token, this.lastSeq));
    this.ws = ws;
    ws.onmessage = (event) => {
      if (this.ws === ws) this.receive(event.data);
    };
    ws.onclose = (event) => {
      if (this.ws === ws) this.closed(event.code, event.reason ?? "");
    };
    ws.onerror = () => {
      /* the close event that follows says what happened */
    };
  }

  private receive(raw: unknown): void {
    this.lastHeard = Date.now();
    let message: M & { seq?: unknown; data?: unknown };
    try {
      message = JSON.parse(String(raw)) as M & { seq?: unknown; data?: unknown };
    } catch {
      return;
    }
    const data = message.data as Record<string, unknown> | undefined;
    switch (message.type) {
      case "connected": {
        this.connects += 1;
        this.attempt = 0;
        this.relogged = false;
        if (this.lastSeq === null && typeof data?.seq === "number") this.lastSeq = data.seq;
        this.setState("open");
        this.startPing(Number(data?.idle_timeout_s));
        this.host.connected();
        break;
      }
      case "resync_required":
        if (typeof data?.seq === "number") this.lastSeq = data.seq;
        break;
      case "auth_ok":
        this.renewals += 1;
        this.authWait?.resolve();
        break;
      case "error":
        this.lastError = (data as ErrorData | undefined) ?? null;
        if (this.authWait && data && ["invalid_token", "invalid_field", "unavailable"].includes(String(data.code))) {
          this.authWait.reject(new Error(`auth refused: ${String(data.code)}`));
        }
        break;
    }
    if (typeof message.seq === "number" && message.seq > 0) {
      if (this.lastSeq !== null && message.seq <= this.lastSeq) return; // seen already
      this.lastSeq = message.seq;
    }
    this.handlers.onMessage?.(message, this);
    const handler = (this.handlers as Record<string, ((m: unknown, s: unknown) => void) | undefined>)[message.type];
    handler?.(message, this);
  }

  /** A new access token: send it in-band and wait for `auth_ok`; without one, replace the
   * connection (the new one uses the new token). */
  private async renew(token: string): Promise<void> {
    const ws = this.ws;
    if (!ws || this.state !== "open" || ws.readyState !== OPEN) return;
    this.authWait?.reject(new Error("superseded"));
    const wait = new Promise<void>((resolve, reject) => {
      this.authWait = { resolve, reject };
    });
    const timeout = setTimeout(
      () => this.authWait?.reject(new Error("no auth_ok")),
      this.options.authTimeoutMs ?? 10_000,
    );
    ws.send(JSON.stringify({ type: "auth", token }));
    try {
      await wait;
    } catch (error) {
      if ((error as Error).message !== "superseded" && this.ws === ws) this.replace();
    } finally {
      clearTimeout(timeout);
      this.authWait = null;
    }
  }

  /** Drop this connection and open another at once (resuming with since). */
  private replace(): void {
    const ws = this.ws;
    if (!ws) return;
    this.replacing = true;
    detach(ws);
    this.ws = null;
    try {
      ws.close(REAUTH_FAILED, "replaced");
    } catch {
      /* already closing */
    }
    this.closed(REAUTH_FAILED, "replaced");
  }

  private closed(code: number, reason: string): void {
    this.ws = null;
    this.clearTimers();
    this.authWait?.reject(new Error("closed"));
    if (this.state === "stopped") return;
    if (this.replacing) {
      this.replacing = false;
      const info: CloseInfo = { ...this.closeInfo(code, reason), willRetry: true, retryInMs: 0 };
      this.report(info);
      void this.open();
      return;
    }
    const info = this.closeInfo(code, reason);
    if (info.action === "stop") {
      this.stop(info);
      return;
    }
    if (info.action === "relogin") {
      if (this.relogged || !this.host.canRefresh()) {
        this.stop(info);
        return;
      }
      this.relogged = true;
      this.host.refresh().then(
        () => this.retry(info, 0),
        (error: unknown) => (error instanceof AuthRequiredError ? this.stop(info) : this.retry(info)),
      );
      return;
    }
    this.retry(info);
  }

  private retry(info: CloseInfo, delayMs?: number): void {
    if (this.state === "stopped") return;
    let delay = delayMs ?? backoffDelay(this.attempt, this.host.backoff, this.host.random);
    if (info.action === "backoff") delay = Math.max(delay, this.options.slowRetryMs ?? 5_000);
    this.attempt += 1;
    this.report({ ...info, willRetry: true, retryInMs: delay });
    this.setState("waiting");
    this.timer = setTimeout(() => void this.open(), delay);
  }

  private stop(info: CloseInfo | null): void {
    if (this.state === "stopped") return;
    this.clearTimers();
    this.unlisten();
    this.host.forget(this as unknown as Subscription<Typed>);
    if (info) this.report({ ...info, willRetry: false, retryInMs: null });
    this.setState("stopped");
    this.handlers.onStop?.(info ? { ...info, willRetry: false, retryInMs: null } : null, this);
  }

  private report(info: CloseInfo): void {
    this.lastClose = info;
    this.handlers.onClose?.(info, this);
  }

  private closeInfo(code: number, reason: string): CloseInfo {
    const described = describeClose(code);
    return {
      code,
      reason,
      meaning: described.meaning,
      clientShould: described.clientShould,
      action: described.action,
      error: this.lastError,
      willRetry: false,
      retryInMs: null,
    };
  }

  private syntheticClose(code: number, willRetry: boolean): CloseInfo {
    return { ...this.closeInfo(code, ""), willRetry };
  }

  private startPing(idleTimeoutS: number): void {
    const fallback = Number.isFinite(idleTimeoutS) && idleTimeoutS > 0 ? Math.min(25_000, (idleTimeoutS * 1000) / 2) : 25_000;
    const every = this.options.pingIntervalMs ?? fallback;
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = null;
    if (every <= 0) return;
    this.pingTimer = setInterval(() => {
      if (Date.now() - this.lastHeard > 2 * every + 1_000) {
        this.replace(); // nothing heard, not even a pong: the connection is dead
        return;
      }
      this.send({ type: "ping" });
    }, every);
  }

  private stopped(): boolean {
    return this.state === "stopped";
  }

  private clearTimers(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.timer = null;
    this.pingTimer = null;
  }

  private setState(state: SubscriptionState): void {
    if (this.state === state) return;
    this.state = state;
    this.handlers.onState?.(state, this);
  }
}

function detach(ws: WebSocketLike): void {
  ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
}
