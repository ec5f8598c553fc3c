/**
 * The seam between the aesmd protocol and whatever makes quotes. The server
 * validates sizes and key IDs; a backend only quotes. Backends throw
 * KubeSgxError with `details.aesmError` (see aesm-errors.ts `backendError`)
 * so the server can answer with the code aesmd would use.
 */
export const TARGET_INFO_SIZE = 512;
export const REPORT_SIZE = 432;
export const PUB_KEY_ID_SIZE = 32;
/** `sgx_ql_qe_report_info_t`: nonce @0 (16), app_enclave_target_info @16 (512), qe_report @528 (432). */
export const QE_REPORT_INFO_SIZE = 960;
export const QE_REPORT_INFO_NONCE_SIZE = 16;
export const QE_REPORT_INFO_QE_REPORT_OFFSET = 528;

export interface QeReportRequest {
  /** 16-byte nonce chosen by the app enclave. */
  nonce: Buffer;
  /** The app enclave's TARGETINFO (512): the QE report is targeted at it. */
  appTargetInfo: Buffer;
}

export interface BackendQuote {
  /** The quote, exact length. */
  quote: Buffer;
  /** 432-byte QE REPORT over SHA-256(nonce ‖ quote), when asked for. */
  qeReport?: Buffer;
}

export interface QuoteBackend {
  /** "sim", "dcap", … — shows in logs, metrics and /status. */
  readonly name: string;
  /** True when quotes come from a simulated platform (never trusted by default). */
  readonly simulated: boolean;
  /** Attestation key IDs the backend answers to besides Intel's ECDSA QE3 ID. */
  readonly extraKeyIds?: readonly Buffer[];
  /** The QE's TARGETINFO (512 bytes); stable across restarts of the same platform. */
  targetInfo(): Promise<Buffer>;
  /** The 32-byte ECDSA_ID, or undefined when the backend cannot know it. */
  pubKeyId(): Promise<Buffer | undefined>;
  /** Bytes a caller must allocate for one quote. */
  quoteSize(): Promise<number>;
  /** Quotes an app REPORT (432 bytes, targeted at the QE). */
  getQuote(report: Buffer, qeReport?: QeReportRequest): Promise<BackendQuote>;
  /** Facts for /status and the start-up log line. */
  describe(): Record<string, unknown>;
  close(): Promise<void>;
}
