/**
 * The `dcap` QGS backend: the calls Intel's QGS makes (qgs_ql_logic.cpp),
 * through koffi, with Intel's C signatures — the TD quoting library
 * libsgx_tdx_logic.so.1 (tdx_quote/inc/td_ql_wrapper.h), which runs the TD QE
 * (an SGX enclave) and certifies its key through the PCE:
 *
 *   tee_att_error_t tee_att_create_context(const tee_att_att_key_id_t *p_att_key_id, const char *p_qe_path, tee_att_config_t **pp_context);
 *   tee_att_error_t tee_att_init_quote(const tee_att_config_t *p_context, sgx_target_info_t *p_qe_target_info,
 *                                      bool refresh_att_key, size_t *p_pub_key_id_size, uint8_t *p_pub_key_id);
 *   tee_att_error_t tee_att_get_quote_size(const tee_att_config_t *p_context, uint32_t *p_quote_size);
 *   tee_att_error_t tee_att_get_quote(const tee_att_config_t *p_context, const uint8_t *p_report, uint32_t report_size,
 *                                     sgx_qe_report_info_t *p_qe_report_info, uint8_t *p_quote, uint32_t quote_size);
 *   tee_att_error_t tee_att_get_platform_info(const tee_att_config_t *p_context, tee_platform_info_t *p_platform_info);
 *
 * and, for GET_COLLATERAL, the quote provider library's
 * (qpl/inc/sgx_default_quote_provider.h)
 *
 *   quote3_error_t tdx_ql_get_quote_verification_collateral(const uint8_t *fmspc, uint16_t fmspc_size,
 *                                                            const char *pck_ca, tdx_ql_qv_collateral_t **pp_quote_collateral);
 *   quote3_error_t tdx_ql_free_quote_verification_collateral(tdx_ql_qv_collateral_t *p_quote_collateral);
 *
 * Intel's QGS finds the latter with tee_att_get_qpl_handle + dlsym in the
 * library libsgx_tdx_logic already loaded; here the provider is loaded by name
 * (default libdcap_quoteprov.so.1, the one libsgx_tdx_logic loads). As Intel's
 * QGS does: one context, tee_att_init_quote once at start (refresh = false),
 * and when a quote call says TEE_ATT_ATT_KEY_NOT_INITIALIZED, one
 * tee_att_init_quote with refresh = true and one retry. Calls run on koffi's
 * worker threads, one at a time (one context). No fallback to simulation, ever.
 */
import koffi, { type TypeObject, type LibraryHandle } from 'koffi';
import { KubeSgxError } from '../errors.js';
import { requireSgxDevices } from '../quotehelper/dcap-backend.js';
import { callAsync, SerialCalls, type AsyncNativeFn } from '../quotehelper/native-calls.js';
import { qgsBackendError, type QgsBackend } from './backend.js';
import { QGS_DEFAULTS } from './options.js';
import { QgsError, type QgsCollateral, type QgsPlatformInfo } from './protocol.js';


export interface QgsDcapBackendOptions {
  /** the TD quoting library (dlopen name or path). Default libsgx_tdx_logic.so.1 */
  libraryPath?: string;
  /** the quote provider library for GET_COLLATERAL. Default libdcap_quoteprov.so.1; if it cannot be loaded, GET_COLLATERAL answers UNEXPECTED */
  qplPath?: string;
  /** Root under which /dev/sgx_* is looked up. Default "/". */
  devRoot?: string;
  /** Skip the device-node check (tests with a stand-in library). */
  skipDeviceCheck?: boolean;
}

/** tee_att_error_t values the backend acts on (td_ql_wrapper.h). */
export const TeeAtt = {
  SUCCESS: 0,
  ERROR_UNEXPECTED: 0x11001,
  ERROR_INVALID_PARAMETER: 0x11002,
  ATT_KEY_NOT_INITIALIZED: 0x1100f,
  ERROR_REPORT: 0x11013,
  INVALID_REPORT: 0x11015,
} as const;

const TEE_ATT_NAMES: Record<number, string> = {
  [TeeAtt.ERROR_UNEXPECTED]: 'TEE_ATT_ERROR_UNEXPECTED',
  [TeeAtt.ERROR_INVALID_PARAMETER]: 'TEE_ATT_ERROR_INVALID_PARAMETER',
  [TeeAtt.ATT_KEY_NOT_INITIALIZED]: 'TEE_ATT_ATT_KEY_NOT_INITIALIZED',
  [TeeAtt.ERROR_REPORT]: 'TEE_ATT_ERROR_REPORT',
  [TeeAtt.INVALID_REPORT]: 'TEE_ATT_INVALID_REPORT',
  0x1100d: 'TEE_ATT_INTERFACE_UNAVAILABLE',
  0x11016: 'TEE_ATT_ENCLAVE_LOAD_ERROR',
  0x11035: 'TEE_ATT_ERROR_INVALID_PRIVILEGE',
  0x11043: 'TEE_ATT_ERROR_BUSY',
};
export const teeAttErrorName = (code: number) => TEE_ATT_NAMES[code] ?? `0x${code.toString(16)}`;

/** A TDREPORT the TD QE refuses is the caller's fault: INVALID_PARAMETER; the rest UNEXPECTED. */
function teeAttError(op: string, code: number): KubeSgxError {
  const callerFault = code === TeeAtt.INVALID_REPORT || code === TeeAtt.ERROR_REPORT || code === TeeAtt.ERROR_INVALID_PARAMETER;
  return qgsBackendError('QGS_DCAP_LIBRARY_ERROR', `${op} failed: ${teeAttErrorName(code)} (0x${code.toString(16)})`, callerFault ? QgsError.INVALID_PARAMETER : QgsError.UNEXPECTED, {
    teeAttError: code,
    teeAttErrorName: teeAttErrorName(code),
    call: op,
  });
}

interface TdxFns {
  createContext: AsyncNativeFn;
  initQuote: AsyncNativeFn;
  getQuoteSize: AsyncNativeFn;
  getQuote: AsyncNativeFn;
  getPlatformInfo: AsyncNativeFn;
}

interface QplFns {
  getCollateral: AsyncNativeFn;
  freeCollateral: AsyncNativeFn;
}

/** tee_platform_info_t (#pragma pack(1)): platform_id[16] · cpu_svn[16] · u16 tdqe_isv_svn · u16 pce_isv_svn */
const PLATFORM_INFO_SIZE = 36;
const TARGET_INFO_SIZE = 512;

let contextType: TypeObject | undefined;
/** koffi type names are global: declare each once per process. */
function declareTypes(): void {
  contextType ??= koffi.opaque('kube_sgx_tee_att_config_t');
  collateralStruct();
}

let collateralType: TypeObject | undefined;
/** sgx_ql_qve_collateral_t (natural alignment): version (u16 major, u16 minor) · u32 tee_type · 7 × (char *, u32 size) */
function collateralStruct(): TypeObject {
  collateralType ??= koffi.struct('kube_sgx_tdx_ql_qv_collateral_t', {
    major_version: 'uint16_t',
    minor_version: 'uint16_t',
    tee_type: 'uint32_t',
    pck_crl_issuer_chain: 'void *',
    pck_crl_issuer_chain_size: 'uint32_t',
    root_ca_crl: 'void *',
    root_ca_crl_size: 'uint32_t',
    pck_crl: 'void *',
    pck_crl_size: 'uint32_t',
    tcb_info_issuer_chain: 'void *',
    tcb_info_issuer_chain_size: 'uint32_t',
    tcb_info: 'void *',
    tcb_info_size: 'uint32_t',
    qe_identity_issuer_chain: 'void *',
    qe_identity_issuer_chain_size: 'uint32_t',
    qe_identity: 'void *',
    qe_identity_size: 'uint32_t',
  });
  return collateralType;
}

export class QgsDcapBackend implements QgsBackend {
  readonly name = 'dcap';
  readonly simulated = false;
  /** One context: library calls never overlap. */
  private readonly calls = new SerialCalls();

  private constructor(
    private readonly fns: TdxFns,
    private readonly context: unknown,
    private readonly qpl: QplFns | { error: string },
    private readonly facts: Record<string, unknown>,
    private readonly libs: LibraryHandle[],
  ) {}

  /**
   * Checks the SGX device nodes (the TD QE is an SGX enclave on the host),
   * loads the library, binds Intel's calls, creates the context and runs
   * tee_att_init_quote once. Throws QGS_DCAP_NO_SGX_DEVICE,
   * QGS_DCAP_LIBRARY_UNAVAILABLE, QGS_DCAP_LIBRARY_INCOMPATIBLE or
   * QGS_DCAP_LIBRARY_ERROR (context creation).
   */
  static async open(opts: QgsDcapBackendOptions = {}): Promise<QgsDcapBackend> {
    const devRoot = opts.devRoot ?? QGS_DEFAULTS.dcap.devRoot;
    const library = opts.libraryPath ?? QGS_DEFAULTS.dcap.libraryPath;
    const facts: Record<string, unknown> = { library, devRoot };
    // Intel's TD QE is an SGX enclave on the host
    if (!opts.skipDeviceCheck) Object.assign(facts, requireSgxDevices(devRoot, 'QGS_DCAP_NO_SGX_DEVICE', "the dcap QGS backend (Intel's TD QE is an SGX enclave)"));
    let lib: LibraryHandle;
    try {
      lib = koffi.load(library);
    } catch (e) {
      throw new KubeSgxError('QGS_DCAP_LIBRARY_UNAVAILABLE', `cannot load Intel's TD quoting library ${library} (install libsgx-tdx-logic, libsgx-ae-tdqe and a quote provider such as libsgx-dcap-default-qpl): ${(e as Error).message}`, {
        cause: e,
        details: { library },
      });
    }
    let fns: TdxFns;
    try {
      declareTypes();
      fns = {
        createContext: lib.func('uint32_t tee_att_create_context(void *p_att_key_id, const char *p_qe_path, _Out_ kube_sgx_tee_att_config_t **pp_context)') as AsyncNativeFn,
        initQuote: lib.func('uint32_t tee_att_init_quote(kube_sgx_tee_att_config_t *p_context, _Out_ uint8_t *p_qe_target_info, bool refresh_att_key, _Inout_ size_t *p_pub_key_id_size, _Out_ uint8_t *p_pub_key_id)') as AsyncNativeFn,
        getQuoteSize: lib.func('uint32_t tee_att_get_quote_size(kube_sgx_tee_att_config_t *p_context, _Out_ uint32_t *p_quote_size)') as AsyncNativeFn,
        getQuote: lib.func('uint32_t tee_att_get_quote(kube_sgx_tee_att_config_t *p_context, const uint8_t *p_report, uint32_t report_size, void *p_qe_report_info, _Out_ uint8_t *p_quote, uint32_t quote_size)') as AsyncNativeFn,
        getPlatformInfo: lib.func('uint32_t tee_att_get_platform_info(kube_sgx_tee_att_config_t *p_context, _Out_ uint8_t *p_platform_info)') as AsyncNativeFn,
      };
    } catch (e) {
      lib.unload();
      throw new KubeSgxError('QGS_DCAP_LIBRARY_INCOMPATIBLE', `${library} lacks Intel's tee_att_* TD quoting API: ${(e as Error).message}`, { cause: e, details: { library } });
    }
    const ctxOut: unknown[] = [null];
    const rc = await callAsync(fns.createContext, null, null, ctxOut);
    if (rc !== 0 || ctxOut[0] === null) throw teeAttError('tee_att_create_context', rc || TeeAtt.ERROR_UNEXPECTED);

    const libs = [lib];
    const qplPath = opts.qplPath ?? QGS_DEFAULTS.dcap.qplPath;
    let qpl: QplFns | { error: string };
    try {
      const q = koffi.load(qplPath);
      libs.push(q);
      qpl = {
        getCollateral: q.func('uint32_t tdx_ql_get_quote_verification_collateral(const uint8_t *fmspc, uint16_t fmspc_size, const char *pck_ca, _Out_ kube_sgx_tdx_ql_qv_collateral_t **pp_quote_collateral)') as AsyncNativeFn,
        freeCollateral: q.func('uint32_t tdx_ql_free_quote_verification_collateral(kube_sgx_tdx_ql_qv_collateral_t *p_quote_collateral)') as AsyncNativeFn,
      };
      facts.qpl = qplPath;
    } catch (e) {
      qpl = { error: `quote provider ${qplPath}: ${(e as Error).message}` };
      facts.qplError = qpl.error;
    }
    const backend = new QgsDcapBackend(fns, ctxOut[0], qpl, facts, libs);
    // as Intel's QGS: init once (no refresh); a failure here is retried with refresh on the first quote
    const init = await backend.calls.run(() => backend.initQuote(false));
    facts.initQuote = init === 0 ? 'ok' : teeAttErrorName(init);
    return backend;
  }

  private initQuote(refresh: boolean): Promise<number> {
    const hashSize = [32];
    return callAsync(this.fns.initQuote, this.context, Buffer.alloc(TARGET_INFO_SIZE), refresh, hashSize, Buffer.alloc(32));
  }

  private async quoteOnce(tdReport: Buffer): Promise<{ rc: number; op: string; quote?: Buffer }> {
    const size = [0];
    let rc = await callAsync(this.fns.getQuoteSize, this.context, size);
    if (rc !== 0) return { rc, op: 'tee_att_get_quote_size' };
    const quote = Buffer.alloc(size[0]);
    rc = await callAsync(this.fns.getQuote, this.context, tdReport, tdReport.length, null, quote, quote.length);
    return rc === 0 ? { rc, op: 'tee_att_get_quote', quote } : { rc, op: 'tee_att_get_quote' };
  }

  getQuote(tdReport: Buffer): Promise<Buffer> {
    return this.calls.run(async () => {
      let r = await this.quoteOnce(tdReport);
      if (r.rc === TeeAtt.ATT_KEY_NOT_INITIALIZED) {
        // Intel's QGS: re-generate / re-certify the attestation key once, then retry once
        const init = await this.initQuote(true);
        if (init !== 0) throw teeAttError('tee_att_init_quote', init);
        r = await this.quoteOnce(tdReport);
      }
      if (r.rc !== 0 || !r.quote) throw teeAttError(r.op, r.rc);
      return r.quote;
    });
  }

  getCollateral(fmspc: Buffer, pckCa: string): Promise<QgsCollateral> {
    const qpl = this.qpl;
    if ('error' in qpl) return Promise.reject(qgsBackendError('QGS_DCAP_NO_QPL', qpl.error, QgsError.UNEXPECTED));
    return this.calls.run(async () => {
      const out: unknown[] = [null];
      const rc = await callAsync(qpl.getCollateral, fmspc, fmspc.length, pckCa, out);
      if (rc !== 0 || out[0] === null) {
        throw qgsBackendError('QGS_DCAP_COLLATERAL_ERROR', `tdx_ql_get_quote_verification_collateral failed: quote3_error_t 0x${rc.toString(16)}`, QgsError.UNEXPECTED, { quote3Error: rc });
      }
      try {
        const c = koffi.decode(out[0], collateralStruct()) as Record<string, unknown>;
        const item = (name: string) => {
          const size = Number(c[`${name}_size`]);
          const ptr = c[name];
          if (ptr === null || size === 0) throw qgsBackendError('QGS_DCAP_COLLATERAL_ERROR', `the quote provider returned no ${name}`, QgsError.UNEXPECTED);
          // Buffer.from(Uint8Array) copies (Buffer.from(ArrayBuffer) would alias memory the provider frees below)
          return Buffer.from(new Uint8Array(koffi.view(ptr, size)));
        };
        return {
          majorVersion: Number(c.major_version),
          minorVersion: Number(c.minor_version),
          pckCrlIssuerChain: item('pck_crl_issuer_chain'),
          rootCaCrl: item('root_ca_crl'),
          pckCrl: item('pck_crl'),
          tcbInfoIssuerChain: item('tcb_info_issuer_chain'),
          tcbInfo: item('tcb_info'),
          qeIdentityIssuerChain: item('qe_identity_issuer_chain'),
          qeIdentity: item('qe_identity'),
        };
      } finally {
        await callAsync(qpl.freeCollateral, out[0]);
      }
    });
  }

  platformInfo(): Promise<QgsPlatformInfo> {
    return this.calls.run(async () => {
      const b = Buffer.alloc(PLATFORM_INFO_SIZE);
      const rc = await callAsync(this.fns.getPlatformInfo, this.context, b);
      if (rc !== 0) throw teeAttError('tee_att_get_platform_info', rc);
      return { platformId: b.subarray(0, 16), cpuSvn: b.subarray(16, 32), tdqeIsvSvn: b.readUInt16LE(32), pceIsvSvn: b.readUInt16LE(34) };
    });
  }

  describe(): Record<string, unknown> {
    return { backend: this.name, simulated: false, ...this.facts };
  }

  close(): Promise<void> {
    // Unloading with worker threads possibly inside the library is unsafe; the process exit releases it.
    void this.libs;
    return Promise.resolve();
  }
}
