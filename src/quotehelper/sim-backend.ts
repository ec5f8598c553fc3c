/**
 * The `sim` backend: the simulated platform's QE (src/sim). Quotes verify
 * only against that platform's own root CA, never Intel's; the helper logs a
 * warning on every start that quotes are simulated.
 */
import { KubeSgxError } from '../errors.js';
import { AesmError, backendError } from './aesm-errors.js';
import type { BackendQuote, QeReportRequest, QuoteBackend } from './backend.js';

/** What the helper needs from a simulated platform (src/sim's SimPlatform). */
export interface SimQuotingPlatform {
  qeTargetInfo(): Buffer;
  attestationKeyId?(): Buffer;
  quoteSize(version?: 3 | 4): number;
  getQuote(report: Uint8Array, opts?: { version?: 3 | 4; qeReportInfo?: { nonce: Uint8Array; appTargetInfo: Uint8Array } }): { quote: Buffer; qeReport?: Buffer };
  /** Simulated EREPORT; used once to learn the QE's ECDSA_ID from a quote. */
  ereport?(opts: { targetInfo: Uint8Array; reportData?: Uint8Array }): Buffer;
}

/**
 * v3 quote: header 48 + body 384 + u32 length, then ECDSA signature (64),
 * attestation key (64), QE report body (384) whose report_data starts with
 * the ECDSA_ID = SHA-256(attestation key ‖ QE auth data).
 */
const V3_QE_REPORT_DATA_OFFSET = 436 + 64 + 64 + 320;

export interface SimBackendOptions {
  /** Quote version to produce (default: the simulator's default, v3). */
  quoteVersion?: 3 | 4;
  /** Platform directory, for logs and /status. */
  platformDir?: string;
  /** The platform's 32-byte ECDSA_ID, if known. */
  pubKeyId?: Buffer;
}

export class SimBackend implements QuoteBackend {
  readonly name = 'sim';
  readonly simulated = true;
  readonly extraKeyIds: readonly Buffer[];
  private ecdsaId: Buffer | undefined;

  constructor(private readonly platform: SimQuotingPlatform, private readonly opts: SimBackendOptions = {}) {
    const own = platform.attestationKeyId?.();
    this.extraKeyIds = own ? [own] : [];
  }

  targetInfo(): Promise<Buffer> {
    return Promise.resolve(this.platform.qeTargetInfo());
  }

  pubKeyId(): Promise<Buffer | undefined> {
    this.ecdsaId ??= this.opts.pubKeyId ?? this.deriveEcdsaId();
    return Promise.resolve(this.ecdsaId);
  }

  /** Quotes one throw-away report to read the QE's ECDSA_ID from its QE report. */
  private deriveEcdsaId(): Buffer | undefined {
    if (!this.platform.ereport) return undefined;
    const report = this.platform.ereport({ targetInfo: this.platform.qeTargetInfo() });
    const { quote } = this.platform.getQuote(report, { version: 3 });
    if (quote.length < V3_QE_REPORT_DATA_OFFSET + 32) return undefined;
    return Buffer.from(quote.subarray(V3_QE_REPORT_DATA_OFFSET, V3_QE_REPORT_DATA_OFFSET + 32));
  }

  quoteSize(): Promise<number> {
    return Promise.resolve(this.platform.quoteSize(this.opts.quoteVersion));
  }

  getQuote(report: Buffer, qeReport?: QeReportRequest): Promise<BackendQuote> {
    try {
      const out = this.platform.getQuote(report, {
        ...(this.opts.quoteVersion !== undefined ? { version: this.opts.quoteVersion } : {}),
        ...(qeReport ? { qeReportInfo: qeReport } : {}),
      });
      return Promise.resolve(out);
    } catch (e) {
      return Promise.reject(translateSimError(e));
    }
  }

  describe(): Record<string, unknown> {
    return { backend: this.name, simulated: true, platformDir: this.opts.platformDir, quoteVersion: this.opts.quoteVersion ?? 3 };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** The simulator's typed errors → the AESM codes a real QE3 would cause. */
function translateSimError(e: unknown): KubeSgxError {
  if (e instanceof KubeSgxError) {
    if (e.code === 'SIM_INVALID_REPORT') {
      return backendError('QUOTE_INVALID_REPORT', `the app report does not verify for this QE: ${e.message}`, AesmError.INVALID_REPORT, {}, e);
    }
    if (e.details?.aesmError !== undefined) return e;
    return backendError(e.code, e.message, AesmError.UNEXPECTED_ERROR, {}, e);
  }
  return backendError('QUOTE_BACKEND_FAILED', e instanceof Error ? e.message : String(e), AesmError.UNEXPECTED_ERROR, {}, e);
}
