/**
 * The seam between the QGS protocol and whatever makes TD quotes. The server
 * checks message framing and sizes; a backend quotes a TDREPORT, returns
 * collateral and platform facts. Backends throw KubeSgxError; `qgsErrorOf`
 * turns one into the QGS error code the client gets.
 */
import { KubeSgxError, type ErrorCode } from '../errors.js';
import { QgsError, type QgsCollateral, type QgsErrorCode, type QgsPlatformInfo } from './protocol.js';

export interface QgsBackend {
  /** "sim", "dcap" — shows in logs, metrics and the start-up line. */
  readonly name: string;
  /** True when quotes come from a simulated platform (never trusted by default). */
  readonly simulated: boolean;
  /** Quotes a 1,024-byte TDREPORT. */
  getQuote(tdReport: Buffer): Promise<Buffer>;
  /** TDX collateral for an FMSPC (6 bytes) and PCK CA name ("processor" / "platform"). */
  getCollateral(fmspc: Buffer, pckCa: string): Promise<QgsCollateral>;
  platformInfo(): Promise<QgsPlatformInfo>;
  describe(): Record<string, unknown>;
  close(): Promise<void>;
}

/**
 * The QGS error for a backend failure: the caller's fault (a TDREPORT the TD
 * QE refuses, an unknown FMSPC or CA) is INVALID_PARAMETER, anything else
 * UNEXPECTED — Intel's QGS answers UNEXPECTED to both.
 */
export function qgsErrorOf(e: unknown): QgsErrorCode {
  if (e instanceof KubeSgxError && typeof e.details?.qgsError === 'number') return e.details.qgsError as QgsErrorCode;
  if (e instanceof KubeSgxError && /^(TDREPORT_|SIM_INVALID_TD_REPORT|QGS_BAD_)/.test(e.code)) return QgsError.INVALID_PARAMETER;
  return QgsError.UNEXPECTED;
}

/** A backend error carrying the QGS code to answer with. */
export function qgsBackendError(code: ErrorCode, message: string, qgsError: QgsErrorCode, details: Record<string, unknown> = {}): KubeSgxError {
  return new KubeSgxError(code, message, { details: { ...details, qgsError } });
}
