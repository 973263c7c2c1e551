/** Reconnect and resend delays: exponential backoff with jitter. */
export interface BackoffOptions {
  /** Ceiling of the first retry's delay, in ms (default 500). */
  initialDelayMs: number;
  /** Largest ceiling, in ms (default 30 000). */
  maxDelayMs: number;
  /** Growth of the ceiling per attempt (default 2). */
  factor: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = {
  initialDelayMs: 500,
  maxDelayMs: 30_000,
  factor: 2,
};

/**
 * The delay before retry number `attempt` (0 for the first): a ceiling that grows
 * `factor`-fold per attempt up to `maxDelayMs`, and a delay drawn uniformly from the
 * ceiling's upper half ("equal jitter"), so that clients dropped together by a restart
 * do not all come back at the same instant, yet none retries at once.
 */
export function backoffDelay(
  attempt: number,
  options: Partial<BackoffOptions> = {},
  random: () => number = Math.random,
): number {
  const { initialDelayMs, maxDelayMs, factor } = { ...DEFAULT_BACKOFF, ...options };
  const ceiling = Math.min(maxDelayMs, initialDelayMs * factor ** Math.max(0, attempt));
  return ceiling / 2 + random() * (ceiling / 2);
}
