/** OneTaskClient: login/refresh, REST helpers, the offline write queue, and subscriptions. */
import { backoffDelay, type BackoffOptions } from "./backoff.js";
import { ApiError, AuthRequiredError, NetworkError } from "./errors.js";
import type {
  FocusSessionServerMessage,
  NotificationsServerMessage,
  WorkspaceTasksServerMessage,
} from "./generated/protocol.js";
import { MemoryQueueStorage, type QueueEvent, type QueueStorage, type QueuedWrite } from "./queue.js";
import {
  Subscription,
  type SubscriptionHandlers,
  type SubscriptionOptions,
  type WebSocketConstructor,
} from "./subscription.js";
import type {
  FocusSession,
  FocusSessionInput,
  Notification,
  NotificationQuery,
  Page,
  ParticipantPatch,
  Task,
  TaskInput,
  TaskPatch,
  TaskQuery,
  TokenPair,
  User,
  Workspace,
} from "./types.js";
import { jwtExpiry, uuid } from "./util.js";

export interface ClientOptions {
  /** The server, e.g. "https://api.example.com" (REST under /api/v1, sockets under /api/v1/ws). */
  baseUrl: string;
  /** The sockets' base when it differs from baseUrl's (default: baseUrl with ws:// or wss://). */
  wsUrl?: string;
  /** fetch to use (default: the global one). */
  fetch?: typeof fetch;
  /** WebSocket constructor (default: the global one; in Node 20, pass `ws`'s). */
  WebSocket?: WebSocketConstructor;
  /** Tokens from an earlier login (e.g. kept in sessionStorage). */
  accessToken?: string;
  refreshToken?: string;
  /** Seconds the access token lives (default: read from the token's `exp`). */
  expiresIn?: number;
  /** Refresh the access token this long before it expires (default 60 s, at most a quarter
   * of its lifetime), and send it to every open socket (`auth`). */
  refreshMarginMs?: number;
  /** Queue REST writes made while the server is unreachable and send them in order later
   * (default true). */
  offlineQueue?: boolean;
  /** Where the queue is kept (default: memory). See webStorageQueue(localStorage). */
  queueStorage?: QueueStorage;
  /** Delays of reconnects and resends. */
  backoff?: Partial<BackoffOptions>;
  /** Random numbers in [0, 1) for the jitter (tests pass a fixed one). */
  random?: () => number;
  /** Called with every new token pair (to keep it across page loads). */
  onTokens?: (tokens: TokenPair | null) => void;
  /** Called when the refresh token is refused: the user must log in again. */
  onAuthLost?: (error: Error) => void;
  /** Called for every change of the offline queue. */
  onQueue?: (event: QueueEvent) => void;
}

export interface RequestOptions {
  body?: unknown;
  form?: Record<string, string>;
  query?: Record<string, string | number | boolean | undefined | null>;
  headers?: Record<string, string>;
  /** Send the access token (default true). */
  auth?: boolean;
}

type Waiter = { resolve: (value: unknown) => void; reject: (error: unknown) => void };
type Timer = ReturnType<typeof setTimeout>;

const RETRYABLE_STATUS = new Set([502, 503, 504]);

/** Worth sending again later: the server was not reached, or could not serve right now. */
export function isRetryable(error: unknown): boolean {
  return (
    error instanceof NetworkError ||
    (error instanceof ApiError && RETRYABLE_STATUS.has(error.status))
  );
}

export class OneTaskClient {
  readonly baseUrl: string;
  readonly wsUrl: string;
  readonly options: ClientOptions;
  private readonly fetchImpl: typeof fetch;
  private access: string | null = null;
  private refreshTok: string | null = null;
  private expiresAt: number | null = null;
  private lifetimeMs: number | null = null;
  private refreshTimer: Timer | null = null;
  private refreshing: Promise<string> | null = null;
  private readonly tokenListeners = new Set<(token: string) => void>();
  private readonly subscriptions = new Set<Subscription<{ type: string }>>();
  private readonly queue: QueuedWrite[] = [];
  private readonly waiters = new Map<string, Waiter>();
  private readonly storage: QueueStorage;
  private flushing: Promise<void> | null = null;
  private flushTimer: Timer | null = null;
  private flushAttempt = 0;
  private closed = false;
  private readonly onlineListener = () => this.networkBack();
  /** Resolves once the queue kept in `queueStorage` is loaded. */
  readonly ready: Promise<void>;

  constructor(options: ClientOptions) {
    this.options = options;
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.wsUrl = (options.wsUrl ?? this.baseUrl.replace(/^http/, "ws")).replace(/\/+$/, "");
    const f = options.fetch ?? globalThis.fetch;
    if (typeof f !== "function") throw new Error("no fetch: pass options.fetch");
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.storage = options.queueStorage ?? new MemoryQueueStorage();
    if (options.accessToken) {
      this.useTokens(options.accessToken, options.refreshToken ?? null, options.expiresIn, false);
    }
    this.ready = Promise.resolve(this.storage.load()).then((items) => {
      this.queue.unshift(...items.filter((i) => !this.queue.some((q) => q.key === i.key)));
      if (this.queue.length) void this.flushQueue();
    });
    const target = globalThis as { addEventListener?: (type: string, fn: () => void) => void };
    if (typeof target.addEventListener === "function") target.addEventListener("online", this.onlineListener);
  }

  // ---- tokens ---------------------------------------------------------------------------

  /** The current access token (null before login). */
  get accessToken(): string | null {
    return this.access;
  }

  /** When the access token expires (ms since the epoch), or null when unknown. */
  get accessTokenExpiresAt(): number | null {
    return this.expiresAt;
  }

  get canRefresh(): boolean {
    return this.refreshTok !== null;
  }

  /** POST /auth/login (form fields), then keep and auto-refresh the tokens. */
  async login(username: string, password: string): Promise<TokenPair> {
    const tokens = await this.request<TokenPair>("POST", "/auth/login", {
      form: { username, password },
      auth: false,
    });
    this.setTokens(tokens);
    return tokens;
  }

  /** Use a token pair obtained elsewhere. */
  setTokens(tokens: TokenPair): void {
    this.useTokens(tokens.access_token, tokens.refresh_token, tokens.expires_in, true);
  }

  /** POST /auth/logout (revokes the refresh token), then forget the tokens. */
  async logout(): Promise<void> {
    const refresh = this.refreshTok;
    this.clearTokens();
    if (refresh) await this.request("POST", "/auth/logout", { body: { refresh_token: refresh }, auth: false });
  }

  clearTokens(): void {
    this.access = this.refreshTok = null;
    this.expiresAt = this.lifetimeMs = null;
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.refreshTimer = null;
    this.options.onTokens?.(null);
  }

  /** POST /auth/refresh: a new token pair, sent to every open socket as `auth`. Concurrent
   * calls share one request. A refused refresh token throws AuthRequiredError. */
  refresh(): Promise<string> {
    if (this.refreshing) return this.refreshing;
    const refreshToken = this.refreshTok;
    if (!refreshToken) return Promise.reject(new AuthRequiredError("no refresh token: log in"));
    this.refreshing = (async () => {
      try {
        const tokens = await this.request<TokenPair>("POST", "/auth/refresh", {
          body: { refresh_token: refreshToken },
          auth: false,
        });
        this.setTokens(tokens);
        return tokens.access_token;
      } catch (error) {
        if (error instanceof ApiError && (error.status === 401 || error.status === 422)) {
          this.clearTokens();
          const lost = new AuthRequiredError(`refresh token refused: ${error.message}`);
          this.options.onAuthLost?.(lost);
          throw lost;
        }
        throw error;
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  /** The access token, refreshed first when it expires within the refresh margin. */
  async freshAccessToken(): Promise<string> {
    if (this.refreshing) return this.refreshing;
    if (!this.access) throw new AuthRequiredError("not logged in");
    if (this.refreshTok && this.expiresAt !== null && this.expiresAt - Date.now() <= this.marginMs()) {
      return this.refresh();
    }
    return this.access;
  }

  /** Called with each new access token (subscriptions use it to send `auth`). */
  onToken(listener: (token: string) => void): () => void {
    this.tokenListeners.add(listener);
    return () => this.tokenListeners.delete(listener);
  }

  private useTokens(access: string, refresh: string | null, expiresIn: number | undefined, notify: boolean): void {
    this.access = access;
    this.refreshTok = refresh;
    const now = Date.now();
    this.expiresAt = expiresIn !== undefined ? now + expiresIn * 1000 : jwtExpiry(access);
    this.lifetimeMs = this.expiresAt === null ? null : this.expiresAt - now;
    this.scheduleRefresh();
    if (notify) {
      if (refresh !== null) {
        this.options.onTokens?.({
          access_token: access,
          refresh_token: refresh,
          token_type: "bearer",
          expires_in: Math.round((this.lifetimeMs ?? 0) / 1000),
        });
      }
      for (const listener of [...this.tokenListeners]) listener(access);
      if (this.queue.length) void this.flushQueue();
    }
  }

  private marginMs(): number {
    const margin = this.options.refreshMarginMs ?? 60_000;
    return this.lifetimeMs === null ? margin : Math.min(margin, this.lifetimeMs / 4);
  }

  private scheduleRefresh(): void {
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.refreshTimer = null;
    if (this.closed || !this.refreshTok || this.expiresAt === null) return;
    const delay = Math.max(0, this.expiresAt - this.marginMs() - Date.now());
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null;
      this.refresh().catch((error: unknown) => {
        // Unreachable: try again shortly, while the token still lives (sockets keep going).
        if (isRetryable(error) && this.expiresAt !== null && this.expiresAt > Date.now()) {
          this.refreshTimer = setTimeout(() => this.scheduleRefresh(), Math.min(5_000, this.marginMs() / 2));
        }
      });
    }, delay);
  }

  // ---- REST -----------------------------------------------------------------------------

  /** One REST call under /api/v1. Errors: ApiError (problem+json), NetworkError. A 401 is
   * retried once after refreshing the access token. */
  async request<T>(method: string, path: string, options: RequestOptions = {}, retried = false): Promise<T> {
    const useAuth = options.auth ?? true;
    let url = `${this.baseUrl}/api/v1${path}`;
    if (options.query) {
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(options.query)) if (v !== undefined && v !== null) params.set(k, String(v));
      const qs = params.toString();
      if (qs) url += `?${qs}`;
    }
    const headers: Record<string, string> = { Accept: "application/json", ...options.headers };
    if (useAuth && this.access) headers.Authorization = `Bearer ${this.access}`;
    let body: string | URLSearchParams | undefined;
    if (options.form) body = new URLSearchParams(options.form);
    else if (options.body !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(options.body);
    }
    let response: Response;
    try {
      response = await this.fetchImpl(url, { method, headers, body });
    } catch (cause) {
      throw new NetworkError(`${method} ${url}: server unreachable`, { cause });
    }
    if (response.status === 401 && useAuth && !retried && this.refreshTok) {
      await this.refresh();
      return this.request<T>(method, path, options, true);
    }
    const text = await response.text();
    if (!response.ok) {
      let problem: Record<string, unknown> = {};
      try {
        const parsed = JSON.parse(text) as unknown;
        if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) problem = parsed as Record<string, unknown>;
      } catch {
        problem = {};
      }
      const retryAfter = Number(response.headers.get("Retry-After"));
      throw new ApiError(response.status, problem, response.statusText, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined);
    }
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /**
   * A write (POST, PUT, PATCH, DELETE) with an `Idempotency-Key` (a UUID made now). When
   * the server cannot be reached (or answers 502/503/504), or earlier writes are still
   * queued, it is queued and sent in order once the server is back, with the same key;
   * the promise settles then. Refused writes (4xx) reject.
   */
  async write<T>(method: QueuedWrite["method"], path: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
    const item: QueuedWrite = { key: uuid(), method, path, queuedAt: Date.now() };
    if (body !== undefined) item.body = body;
    if (headers) item.headers = headers;
    if (this.options.offlineQueue === false) return this.send<T>(item);
    if (this.queue.length > 0 || isOffline()) return this.enqueue<T>(item);
    try {
      return await this.send<T>(item);
    } catch (error) {
      if (isRetryable(error)) return this.enqueue<T>(item);
      throw error;
    }
  }

  /** Writes waiting to be sent, oldest first. */
  get pendingWrites(): readonly QueuedWrite[] {
    return [...this.queue];
  }

  /** Send the queued writes now, in order (also done on its own: after a backoff delay,
   * when the browser is back online, when a socket connects, after a login). */
  flushQueue(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    this.flushing = this.drain().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  private send<T>(item: QueuedWrite): Promise<T> {
    const options: RequestOptions = { headers: { ...item.headers, "Idempotency-Key": item.key } };
    if (item.body !== undefined) options.body = item.body;
    return this.request<T>(item.method, item.path, options);
  }

  private enqueue<T>(item: QueuedWrite): Promise<T> {
    const promise = new Promise<T>((resolve, reject) => {
      this.waiters.set(item.key, { resolve: resolve as (v: unknown) => void, reject });
    });
    this.queue.push(item);
    void this.storage.save(this.queue);
    this.emitQueue({ type: "queued", write: item, size: this.queue.length });
    if (!this.flushing && !this.flushTimer) this.scheduleFlush();
    return promise;
  }

  private async drain(): Promise<void> {
    await this.ready;
    while (this.queue.length && !this.closed) {
      const item = this.queue[0]!;
      let result: unknown;
      try {
        result = await this.send<unknown>(item);
      } catch (error) {
        if (isRetryable(error)) {
          this.scheduleFlush();
          return;
        }
        // Not logged in (any more): keep the queue; the next login sends it.
        if (error instanceof AuthRequiredError || (error instanceof ApiError && error.status === 401)) return;
        this.settle(item, false, error);
        continue;
      }
      this.settle(item, true, result);
    }
    this.flushAttempt = 0;
  }

  private settle(item: QueuedWrite, ok: boolean, value: unknown): void {
    this.queue.shift();
    void this.storage.save(this.queue);
    const waiter = this.waiters.get(item.key);
    this.waiters.delete(item.key);
    const size = this.queue.length;
    if (ok) {
      this.flushAttempt = 0;
      waiter?.resolve(value);
      this.emitQueue({ type: "sent", write: item, result: value, size });
    } else {
      waiter?.reject(value);
      this.emitQueue({ type: "failed", write: item, error: value, size });
    }
  }

  private scheduleFlush(): void {
    if (this.closed) return;
    const delay = backoffDelay(this.flushAttempt, this.options.backoff, this.options.random);
    this.flushAttempt += 1;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      void this.flushQueue();
    }, delay);
    this.emitQueue({ type: "waiting", retryInMs: delay, size: this.queue.length });
  }

  private emitQueue(event: QueueEvent): void {
    this.options.onQueue?.(event);
  }

  /** The network is back (an `online` event, or a socket connected): send what waits. */
  networkBack(): void {
    if (this.queue.length && !this.flushing) {
      this.flushAttempt = 0;
      void this.flushQueue();
    }
    for (const sub of this.subscriptions) sub.retryNow();
  }

  // ---- resources ------------------------------------------------------------------------

  me(): Promise<User> {
    return this.request("GET", "/users/me");
  }

  readonly workspaces = {
    list: (): Promise<Workspace[]> => this.request("GET", "/workspaces"),
    create: (name: string): Promise<Workspace> => this.write("POST", "/workspaces", { name }),
  };

  readonly tasks = {
    list: (workspaceId: number, query: TaskQuery = {}): Promise<Page<Task>> =>
      this.request("GET", `/workspaces/${workspaceId}/tasks`, { query: { ...query } }),
    get: (taskId: number): Promise<Task> => this.request("GET", `/tasks/${taskId}`),
    create: (workspaceId: number, task: TaskInput): Promise<Task> =>
      this.write("POST", `/workspaces/${workspaceId}/tasks`, task),
    /** `ifMatch`: the version you edited (412 when someone changed it since). */
    update: (taskId: number, patch: TaskPatch, ifMatch?: number): Promise<Task> =>
      this.write("PATCH", `/tasks/${taskId}`, patch, ifMatch === undefined ? undefined : { "If-Match": `"${ifMatch}"` }),
    complete: (taskId: number): Promise<Task> => this.write("POST", `/tasks/${taskId}/complete`),
    restore: (taskId: number): Promise<Task> => this.write("POST", `/tasks/${taskId}/restore`),
    delete: (taskId: number): Promise<void> => this.write("DELETE", `/tasks/${taskId}`),
  };

  readonly notifications = {
    list: (query: NotificationQuery = {}): Promise<Page<Notification>> =>
      this.request("GET", "/notifications", { query }),
    unreadCount: (): Promise<{ count: number }> => this.request("GET", "/notifications/unread-count"),
    markRead: (id: number): Promise<Notification> => this.write("POST", `/notifications/${id}/read`),
    markAllRead: (): Promise<{ count: number }> => this.write("POST", "/notifications/read-all"),
    delete: (id: number): Promise<void> => this.write("DELETE", `/notifications/${id}`),
    preferences: (): Promise<Record<string, unknown>> => this.request("GET", "/notifications/preferences"),
    setPreferences: (prefs: Record<string, unknown>): Promise<Record<string, unknown>> =>
      this.write("PUT", "/notifications/preferences", prefs),
  };

  readonly focus = {
    list: (query: { workspace_id?: number; status?: string } = {}): Promise<{ items: FocusSession[] }> =>
      this.request("GET", "/focus-sessions", { query }),
    get: (id: string): Promise<FocusSession> => this.request("GET", `/focus-sessions/${encodeURIComponent(id)}`),
    create: (session: FocusSessionInput): Promise<FocusSession> => this.write("POST", "/focus-sessions", session),
    join: (id: string, body: ParticipantPatch = {}): Promise<FocusSession> =>
      this.write("POST", `/focus-sessions/${encodeURIComponent(id)}/join`, body),
    leave: (id: string): Promise<FocusSession> => this.write("POST", `/focus-sessions/${encodeURIComponent(id)}/leave`),
    start: (id: string): Promise<FocusSession> => this.write("POST", `/focus-sessions/${encodeURIComponent(id)}/start`),
    pause: (id: string): Promise<FocusSession> => this.write("POST", `/focus-sessions/${encodeURIComponent(id)}/pause`),
    resume: (id: string): Promise<FocusSession> => this.write("POST", `/focus-sessions/${encodeURIComponent(id)}/resume`),
    end: (id: string): Promise<FocusSession> => this.write("POST", `/focus-sessions/${encodeURIComponent(id)}/end`),
    updateMe: (id: string, patch: ParticipantPatch): Promise<FocusSession> =>
      this.write("PATCH", `/focus-sessions/${encodeURIComponent(id)}/participants/me`, patch),
  };

  // ---- sockets --------------------------------------------------------------------------

  /**
   * Subscribe to one of the three sockets: "notifications", { workspace: id } (its tasks)
   * or { focusSession: "focus-3" }. Reconnects with backoff and `since`, renews the token
   * in-band, and stops on close codes that say so (4403, 4404…).
   */
  subscribe(
    channel: "notifications",
    handlers: SubscriptionHandlers<NotificationsServerMessage>,
    options?: SubscriptionOptions,
  ): Subscription<NotificationsServerMessage>;
  subscribe(
    channel: { workspace: number | string },
    handlers: SubscriptionHandlers<WorkspaceTasksServerMessage>,
    options?: SubscriptionOptions,
  ): Subscription<WorkspaceTasksServerMessage>;
  subscribe(
    channel: { focusSession: string },
    handlers: SubscriptionHandlers<FocusSessionServerMessage>,
    options?: SubscriptionOptions,
  ): Subscription<FocusSessionServerMessage>;
  subscribe(
    channel: ChannelSpec,
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the overloads type it
    handlers: SubscriptionHandlers<any>,
    options: SubscriptionOptions = {},
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
  ): Subscription<any> {
    const WS = this.options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!WS) throw new Error("no WebSocket: pass options.WebSocket (in Node 20: the `ws` package's)");
    const sub = new Subscription<{ type: string }>(
      {
        url: (token, since) => {
          let url = `${this.wsUrl}${channelPath(channel)}?token=${encodeURIComponent(token)}`;
          if (since !== null) url += `&since=${since}`;
          return url;
        },
        token: () => this.freshAccessToken(),
        refresh: () => this.refresh(),
        canRefresh: () => this.canRefresh,
        onToken: (listener) => this.onToken(listener),
        connected: () => {
          if (this.queue.length && !this.flushing) {
            this.flushAttempt = 0;
            void this.flushQueue();
          }
        },
        forget: (s) => this.subscriptions.delete(s),
        WebSocket: WS,
        backoff: this.options.backoff ?? {},
        random: this.options.random ?? Math.random,
      },
      handlers,
      options,
    );
    this.subscriptions.add(sub);
    sub.start();
    return sub;
  }

  /** Close every subscription and stop every timer. */
  close(): void {
    this.closed = true;
    for (const sub of [...this.subscriptions]) sub.close();
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.refreshTimer = this.flushTimer = null;
    const target = globalThis as { removeEventListener?: (type: string, fn: () => void) => void };
    if (typeof target.removeEventListener === "function") target.removeEventListener("online", this.onlineListener);
  }
}

export type ChannelSpec = "notifications" | { workspace: number | string } | { focusSession: string };

export function channelPath(channel: ChannelSpec): string {
  if (channel === "notifications") return "/api/v1/ws/notifications";
  if ("workspace" in channel) return `/api/v1/ws/workspaces/${encodeURIComponent(String(channel.workspace))}/tasks`;
  return `/api/v1/ws/focus-sessions/${encodeURIComponent(channel.focusSession)}`;
}

function isOffline(): boolean {
  const nav = (globalThis as { navigator?: { onLine?: boolean } }).navigator;
  return nav?.onLine === false;
}
