/** The offline queue: REST writes made while the server is unreachable, sent in order later. */

/** One queued write. `key` is its Idempotency-Key, generated when it was first tried. */
export interface QueuedWrite {
  key: string;
  method: "POST" | "PUT" | "PATCH" | "DELETE";
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
  queuedAt: number;
}

/** Where the queue is kept between page loads. `load` is called once, when the client is
 * created; `save` after every change with the whole queue. */
export interface QueueStorage {
  load(): QueuedWrite[] | Promise<QueuedWrite[]>;
  save(items: readonly QueuedWrite[]): void | Promise<void>;
}

/** In memory only (the default): the queue is lost with the page. */
export class MemoryQueueStorage implements QueueStorage {
  items: QueuedWrite[] = [];
  load(): QueuedWrite[] {
    return [...this.items];
  }
  save(items: readonly QueuedWrite[]): void {
    this.items = [...items];
  }
}

/** Anything with the Web Storage API's getItem/setItem (window.localStorage). */
export interface KeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

/** Keep the queue in localStorage (or any Web Storage) under `key`, so writes made offline
 * survive a reload and are sent by the next page. */
export function webStorageQueue(store: KeyValueStore, key = "onetask-offline-queue"): QueueStorage {
  return {
    load() {
      const raw = store.getItem(key);
      if (!raw) return [];
      try {
        const items = JSON.parse(raw) as unknown;
        return Array.isArray(items) ? (items as QueuedWrite[]) : [];
      } catch {
        return [];
      }
    },
    save(items) {
      store.setItem(key, JSON.stringify(items));
    },
  };
}

/** What the queue reports to `onQueue` listeners. */
export type QueueEvent =
  | { type: "queued"; write: QueuedWrite; size: number }
  | { type: "sent"; write: QueuedWrite; result: unknown; size: number }
  | { type: "failed"; write: QueuedWrite; error: unknown; size: number }
  | { type: "waiting"; retryInMs: number; size: number };
