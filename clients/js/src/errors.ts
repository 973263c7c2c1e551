/** A REST call answered with an error status: the server's problem+json (RFC 9457). */
export class ApiError extends Error {
  override readonly name = "ApiError";
  /** HTTP status (401, 404, 409, 422, 429…). */
  readonly status: number;
  /** The problem's `type` (a URI naming the kind of error), when the body was problem+json. */
  readonly type: string | undefined;
  /** The problem's `title` (short, the same for every instance of the kind). */
  readonly title: string;
  /** The problem's `detail` (what went wrong this time). */
  readonly detail: string | undefined;
  /** `errors` of a 422 (one per invalid field), when present. */
  readonly errors: ReadonlyArray<Record<string, unknown>> | undefined;
  /** Seconds from a `Retry-After` header (429, 503), when present. */
  readonly retryAfter: number | undefined;
  /** The whole problem body (or `{}` when the body was not JSON). */
  readonly problem: Readonly<Record<string, unknown>>;

  constructor(
    status: number,
    problem: Record<string, unknown>,
    statusText = "",
    retryAfter?: number,
  ) {
    const title = typeof problem.title === "string" ? problem.title : statusText || `HTTP ${status}`;
    const detail = typeof problem.detail === "string" ? problem.detail : undefined;
    super(`${status} ${title}${detail ? `: ${detail}` : ""}`);
    this.status = status;
    this.type = typeof problem.type === "string" ? problem.type : undefined;
    this.title = title;
    this.detail = detail;
    this.errors = Array.isArray(problem.errors)
      ? (problem.errors as Array<Record<string, unknown>>)
      : undefined;
    this.retryAfter = retryAfter;
    this.problem = problem;
  }
}

/** The server could not be reached (fetch failed: offline, DNS, connection refused). */
export class NetworkError extends Error {
  override readonly name = "NetworkError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A call needs a login: no access token, or the refresh token was refused. */
export class AuthRequiredError extends Error {
  override readonly name = "AuthRequiredError";
}
