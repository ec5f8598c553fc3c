/**
 * The `dcap` backend: Intel's quote library, libsgx_dcap_ql.so.1, through
 * koffi (SGXDataCenterAttestationPrimitives QuoteGeneration/quote_wrapper/ql/
 * inc/sgx_dcap_ql_wrapper.h):
 *
 *   quote3_error_t sgx_qe_get_target_info(sgx_target_info_t *p_qe_target_info);
 *   quote3_error_t sgx_qe_get_quote_size(uint32_t *p_quote_size);
 *   quote3_error_t sgx_qe_get_quote(const sgx_report_t *p_app_report, uint32_t quote_size, uint8_t *p_quote);
 *
 * The library is loaded when the backend is opened (never at import), after
 * checking the SGX device nodes, so a node without SGX fails at start-up with
 * an error naming what is missing. Calls run on koffi's worker threads, one
 * at a time (aesmd serialises QE3 calls with its ecdsa_quote_mutex; the
 * library itself only locks around dlopen). There is no fallback to
 * simulation, ever.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import koffi, { type LibraryHandle } from 'koffi';
import { KubeSgxError, type ErrorCode } from '../errors.js';
import { callAsync, SerialCalls, type AsyncNativeFn } from './native-calls.js';
import { AesmError, backendError, quote3ErrorName, quote3ToAesm } from './aesm-errors.js';
import { type BackendQuote, type QeReportRequest, type QuoteBackend, REPORT_SIZE, TARGET_INFO_SIZE } from './backend.js';

import { DEFAULT_DCAP_LIBRARY } from './options.js';

export { DEFAULT_DCAP_LIBRARY };

export interface DcapBackendOptions {
  /** Library name or path given to dlopen. Default libsgx_dcap_ql.so.1 (the loader's search path). */
  libraryPath?: string;
  /** Root under which /dev is looked up (tests, containers with the host's /dev elsewhere). Default "/". */
  devRoot?: string;
  /** Skip the device-node check (only for a library that does not need them, e.g. tests). */
  skipDeviceCheck?: boolean;
}

/** In-tree driver names first, then the legacy DCAP driver's. */
const ENCLAVE_DEVICES = ['dev/sgx_enclave', 'dev/sgx/enclave'];
const PROVISION_DEVICES = ['dev/sgx_provision', 'dev/sgx/provision'];

function findDevice(root: string, candidates: readonly string[]): string | undefined {
  return candidates.map((c) => join(root, c)).find((p) => existsSync(p));
}

/**
 * The SGX enclave and provisioning device nodes under `devRoot`, or a
 * KubeSgxError `code` listing every path looked for that is missing (`what`
 * says who needs them). Shared by the quote helper's and the QGS's dcap backends.
 */
export function requireSgxDevices(devRoot: string, code: ErrorCode, what: string): { enclaveDevice: string; provisionDevice: string } {
  const enclave = findDevice(devRoot, ENCLAVE_DEVICES);
  const provision = findDevice(devRoot, PROVISION_DEVICES);
  if (!enclave || !provision) {
    const missing = [...(enclave ? [] : ENCLAVE_DEVICES), ...(provision ? [] : PROVISION_DEVICES)].map((d) => join(devRoot, d));
    throw new KubeSgxError(code, `${what} needs the SGX enclave and provisioning devices; missing: ${missing.join(', ')}`, { details: { missing, devRoot } });
  }
  return { enclaveDevice: enclave, provisionDevice: provision };
}

type Call = (...args: unknown[]) => unknown;
interface DcapFunctions {
  getTargetInfo: AsyncNativeFn & Call;
  getQuoteSize: AsyncNativeFn & Call;
  getQuote: AsyncNativeFn & Call;
}

function libraryError(op: string, code: number): KubeSgxError {
  const name = quote3ErrorName(code);
  return backendError('DCAP_QUOTE_LIBRARY_ERROR', `${op} failed: ${name} (0x${code.toString(16)})`, quote3ToAesm(code), { quote3Error: code, quote3ErrorName: name, call: op });
}

export class DcapBackend implements QuoteBackend {
  readonly name = 'dcap';
  readonly simulated = false;
  /** Library calls never overlap. */
  private readonly calls = new SerialCalls();

  private constructor(
    private readonly lib: LibraryHandle,
    private readonly fns: DcapFunctions,
    private readonly facts: Record<string, unknown>,
  ) {}

  /**
   * Checks the device nodes, loads the library and binds the three calls.
   * Throws DCAP_NO_SGX_DEVICE, DCAP_LIBRARY_UNAVAILABLE or DCAP_LIBRARY_INCOMPATIBLE.
   */
  static open(opts: DcapBackendOptions = {}): DcapBackend {
    const devRoot = opts.devRoot ?? '/';
    const facts: Record<string, unknown> = { library: opts.libraryPath ?? DEFAULT_DCAP_LIBRARY, devRoot };
    if (!opts.skipDeviceCheck) Object.assign(facts, requireSgxDevices(devRoot, 'DCAP_NO_SGX_DEVICE', 'the dcap backend'));
    // libsgx_dcap_ql reads SGX_AESM_ADDR in its constructor and would then
    // send our own requests back to this socket: quote in-process instead.
    if (process.env.SGX_AESM_ADDR !== undefined) {
      delete process.env.SGX_AESM_ADDR;
      facts.unsetSgxAesmAddr = true;
    }
    const library = opts.libraryPath ?? DEFAULT_DCAP_LIBRARY;
    let lib: LibraryHandle;
    try {
      lib = koffi.load(library);
    } catch (e) {
      throw new KubeSgxError('DCAP_LIBRARY_UNAVAILABLE', `cannot load Intel's quote library ${library} (install libsgx-dcap-ql and a quote provider such as libsgx-dcap-default-qpl): ${(e as Error).message}`, { cause: e, details: { library } });
    }
    let fns: DcapFunctions;
    try {
      fns = {
        getTargetInfo: lib.func('uint32_t sgx_qe_get_target_info(_Out_ uint8_t *p_qe_target_info)') as DcapFunctions['getTargetInfo'],
        getQuoteSize: lib.func('uint32_t sgx_qe_get_quote_size(_Out_ uint32_t *p_quote_size)') as DcapFunctions['getQuoteSize'],
        getQuote: lib.func('uint32_t sgx_qe_get_quote(const uint8_t *p_app_report, uint32_t quote_size, _Out_ uint8_t *p_quote)') as DcapFunctions['getQuote'],
      };
    } catch (e) {
      lib.unload();
      throw new KubeSgxError('DCAP_LIBRARY_INCOMPATIBLE', `${library} lacks the sgx_qe_* quoting API: ${(e as Error).message}`, { cause: e, details: { library } });
    }
    return new DcapBackend(lib, fns, facts);
  }

  targetInfo(): Promise<Buffer> {
    return this.calls.run(async () => {
      const out = Buffer.alloc(TARGET_INFO_SIZE);
      const rc = await callAsync(this.fns.getTargetInfo, out);
      if (rc !== 0) throw libraryError('sgx_qe_get_target_info', rc);
      return out;
    });
  }

  /** sgx_qe_* does not expose the ECDSA_ID; Intel's client only checks pub_key_id_size. */
  pubKeyId(): Promise<Buffer | undefined> {
    return Promise.resolve(undefined);
  }

  quoteSize(): Promise<number> {
    return this.calls.run(() => this.quoteSizeNow());
  }

  private async quoteSizeNow(): Promise<number> {
    const out = [0];
    const rc = await callAsync(this.fns.getQuoteSize, out);
    if (rc !== 0) throw libraryError('sgx_qe_get_quote_size', rc);
    return out[0];
  }

  getQuote(report: Buffer, qeReport?: QeReportRequest): Promise<BackendQuote> {
    if (qeReport) {
      // sgx_qe_get_quote has no qe_report_info parameter.
      return Promise.reject(backendError('DCAP_QE_REPORT_UNSUPPORTED', 'the dcap backend cannot return a QE report (sgx_qe_get_quote takes no qe_report_info)', AesmError.UNABLE_TO_GENERATE_QE_REPORT));
    }
    if (report.length !== REPORT_SIZE) return Promise.reject(backendError('DCAP_BAD_REPORT', `report is ${report.length} bytes`, AesmError.PARAMETER_ERROR));
    return this.calls.run(async () => {
      const size = await this.quoteSizeNow();
      const quote = Buffer.alloc(size);
      const rc = await callAsync(this.fns.getQuote, report, size, quote);
      if (rc !== 0) throw libraryError('sgx_qe_get_quote', rc);
      return { quote };
    });
  }

  describe(): Record<string, unknown> {
    return { backend: this.name, simulated: false, ...this.facts };
  }

  close(): Promise<void> {
    // Unloading a library with worker threads possibly inside it is unsafe; the process exit releases it.
    void this.lib;
    return Promise.resolve();
  }
}
