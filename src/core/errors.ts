// One error type for the whole program. `message` is for the log (may name internals); `publicMessage`
// is what a client sees. The code decides the HTTP status, in one table.

export type ErrorCode =
  | "bad_request"
  | "validation"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "conflict"
  | "gone"
  | "payload_too_large"
  | "rate_limited"
  | "config"
  | "unavailable"
  | "internal";

export const STATUS_BY_CODE: Record<ErrorCode, number> = {
  bad_request: 400,
  validation: 422,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  gone: 410,
  payload_too_large: 413,
  rate_limited: 429,
  config: 500,
  unavailable: 503,
  internal: 500,
};

/** A problem with one named input field, e.g. `{ field: "name", message: "must be unique" }`. */
export type FieldIssue = { field: string; message: string };

export type AppErrorOptions = {
  cause?: unknown;
  /** What the client may see. Defaults to `message` below 500 and to a generic sentence from 500 on. */
  publicMessage?: string;
  /** Per-field problems for validation errors. */
  fields?: FieldIssue[];
  /** Seconds after which a rate-limited client may retry. */
  retryAfter?: number;
};

export class AppError extends Error {
  override readonly name = "AppError";
  readonly code: ErrorCode;
  readonly fields: FieldIssue[];
  readonly retryAfter: number | undefined;
  readonly #publicMessage: string | undefined;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.fields = options.fields ?? [];
    this.retryAfter = options.retryAfter;
    this.#publicMessage = options.publicMessage;
  }

  get status(): number {
    return STATUS_BY_CODE[this.code];
  }

  /** The message a client may see: never internals for a 5xx. */
  get publicMessage(): string {
    if (this.#publicMessage !== undefined) return this.#publicMessage;
    return this.status >= 500
      ? "Something went wrong on our side; the details are in the server log."
      : this.message;
  }
}

/** Wraps anything thrown into an AppError; unknown errors become `internal`. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new AppError("internal", message, { cause: err });
}
