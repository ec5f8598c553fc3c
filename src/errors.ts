/**
 * One error type for the whole project, rendered in one place per surface
 * (CLI JSON, HTTP problem+json, gRPC status). Errors are data: a stable
 * machine-readable `code`, a `path` naming the bad field (and, for binary
 * structures, its byte offset in `offset`), and a human `message`.
 */
import type { SgxErrorCode } from './sgx/error-codes.js';
import type { DcapErrorCode } from './dcap/error-codes.js';
import type { SimErrorCode } from './sim/error-codes.js';
import type { ServiceErrorCode } from './service/error-codes.js';
import type { WebhookErrorCode } from './webhook/error-codes.js';
import type { DoctorErrorCode } from './doctor/error-codes.js';
import type { QuoteHelperErrorCode } from './quotehelper/error-codes.js';
import type { QgsErrorCode } from './qgs/error-codes.js';
import type { NodeErrorCode } from './node/error-codes.js';
import type { NodeAgentErrorCode } from './nodeagent/error-codes.js';
import type { DevicePluginErrorCode } from './deviceplugin/error-codes.js';
import type { DemoErrorCode } from './demo/error-codes.js';
import type { CliErrorCode } from './cli/error-codes.js';
import type { OpsErrorCode } from './ops/error-codes.js';

/** Codes every layer may use: the shared encodings (src/encoding.ts) and the catch-all for bugs. */
export const COMMON_ERROR_CODES = ['BAD_HEX', 'INVALID_BASE64', 'INTERNAL'] as const;
export type CommonErrorCode = (typeof COMMON_ERROR_CODES)[number];

/** Every error code kube-sgx throws: the union of each layer's list (`src/<layer>/error-codes.ts`). */
export type ErrorCode =
  | CommonErrorCode
  | SgxErrorCode
  | DcapErrorCode
  | SimErrorCode
  | ServiceErrorCode
  | WebhookErrorCode
  | DoctorErrorCode
  | QuoteHelperErrorCode
  | QgsErrorCode
  | NodeErrorCode
  | NodeAgentErrorCode
  | DevicePluginErrorCode
  | DemoErrorCode
  | CliErrorCode
  | OpsErrorCode;

export type ErrorPath = ReadonlyArray<string | number>;

export interface KubeSgxErrorInit {
  path?: ErrorPath;
  offset?: number;
  cause?: unknown;
  details?: Record<string, unknown>;
}

export class KubeSgxError extends Error {
  override readonly name = 'KubeSgxError';
  readonly code: ErrorCode;
  readonly path: ErrorPath;
  readonly offset: number | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, init: KubeSgxErrorInit = {}) {
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
export function toKubeSgxError(e: unknown, fallbackCode: ErrorCode = 'INTERNAL'): KubeSgxError {
  if (e instanceof KubeSgxError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new KubeSgxError(fallbackCode, message, { cause: e });
}
