/**
 * One error type for the whole project, rendered in one place per surface
 * (CLI JSON, HTTP problem+json, gRPC status). Errors are data: a stable
 * machine-readable `code`, a `path` naming the bad field (and, for binary
 * structures, its byte offset in `offset`), and a human `message`.
 */
export type ErrorPath = ReadonlyArray<string | number>;

export interface KubeSgxErrorInit {
  path?: ErrorPath;
  offset?: number;
  cause?: unknown;
  details?: Record<string, unknown>;
}

export class KubeSgxError extends Error {
  override readonly name = 'KubeSgxError';
  readonly code: string;
  readonly path: ErrorPath;
  readonly offset: number | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, init: KubeSgxErrorInit = {}) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.code = code;
    this.path = init.path ?? [];
    this.offset = init.offset;
    this.details = init.details;
  }

  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = { code: this.code, message: this.message };
    if (this.path.length > 0) out.path = this.path;
    if (this.offset !== undefined) out.offset = this.offset;
    if (this.details !== undefined) out.details = this.details;
    return out;
  }
}

export function isKubeSgxError(e: unknown): e is KubeSgxError {
  return e instanceof KubeSgxError;
}

/** Wraps anything thrown into a KubeSgxError, keeping typed errors as they are. */
export function toKubeSgxError(e: unknown, fallbackCode = 'INTERNAL'): KubeSgxError {
  if (e instanceof KubeSgxError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new KubeSgxError(fallbackCode, message, { cause: e });
}
