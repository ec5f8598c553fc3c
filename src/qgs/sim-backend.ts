/**
 * The `sim` QGS backend: the simulated platform's TD QE (src/sim). It accepts
 * only TDREPORTs MACed on the same platform (`kube-sgx sim td-report`, or
 * `SimPlatform.tdReport`); its quotes verify only against the simulated root.
 */
import { SIM_FMSPC, SimPlatform, SIM_TD_QE, SIM_PCK_TCB, type TcbScenario } from '../sim/index.js';
import { derive } from '../sim/keys.js';
import { QgsError, type QgsCollateral, type QgsPlatformInfo } from './protocol.js';
import { qgsBackendError, type QgsBackend } from './backend.js';

const nulTerminated = (s: string) => Buffer.from(s + '\0', 'utf8');

export class SimQgsBackend implements QgsBackend {
  readonly name = 'sim';
  readonly simulated = true;

  private constructor(readonly platform: SimPlatform) {}

  static async open(dir: string, opts: { scenario?: TcbScenario; seed?: string } = {}): Promise<SimQgsBackend> {
    return new SimQgsBackend(await SimPlatform.open(dir, opts));
  }

  static of(platform: SimPlatform): SimQgsBackend {
    return new SimQgsBackend(platform);
  }

  getQuote(tdReport: Buffer): Promise<Buffer> {
    // synchronous work (one HMAC, two SHA-384, one ECDSA signature): a promise keeps the seam async for dcap
    try {
      return Promise.resolve(this.platform.getTdQuote(tdReport));
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }

  /**
   * What Intel's quote provider returns for TDX (collateral 3.1): PEM chains
   * and the PCS JSON bodies `{"tcbInfo":…,"signature":…}` /
   * `{"enclaveIdentity":…}` as NUL-terminated strings, CRLs as raw DER.
   */
  getCollateral(fmspc: Buffer, pckCa: string): Promise<QgsCollateral> {
    if (fmspc.toString('hex').toUpperCase() !== SIM_FMSPC) {
      return Promise.reject(qgsBackendError('QGS_UNKNOWN_FMSPC', `FMSPC ${fmspc.toString('hex')} is not this platform's (${SIM_FMSPC})`, QgsError.INVALID_PARAMETER));
    }
    if (pckCa !== 'processor') {
      return Promise.reject(qgsBackendError('QGS_UNKNOWN_PCK_CA', `PCK CA ${JSON.stringify(pckCa)}: the simulated platform's PCK is issued by the Processor CA ("processor")`, QgsError.INVALID_PARAMETER));
    }
    const c = this.platform.tdxCollateral();
    return Promise.resolve({
      majorVersion: 3,
      minorVersion: 1,
      pckCrlIssuerChain: nulTerminated(c.pck_crl_issuer_chain),
      rootCaCrl: Buffer.from(c.root_ca_crl, 'hex'),
      pckCrl: Buffer.from(c.pck_crl, 'hex'),
      tcbInfoIssuerChain: nulTerminated(c.tcb_info_issuer_chain),
      tcbInfo: nulTerminated(`{"tcbInfo":${c.tcb_info},"signature":"${c.tcb_info_signature}"}`),
      qeIdentityIssuerChain: nulTerminated(c.qe_identity_issuer_chain),
      qeIdentity: nulTerminated(`{"enclaveIdentity":${c.qe_identity},"signature":"${c.qe_identity_signature}"}`),
    });
  }

  platformInfo(): Promise<QgsPlatformInfo> {
    return Promise.resolve({
      tdqeIsvSvn: SIM_TD_QE.isvSvn,
      pceIsvSvn: SIM_PCK_TCB.pcesvn,
      // tee_platform_info_t.platform_id: a stable per-platform value (Intel: the PPID-derived platform ID)
      platformId: derive(Buffer.from(this.platform.pckCertificatePem()), 'qgs platform id', 16),
      // CPUSVN as the platform's TDREPORTs and QE reports carry it
      cpuSvn: Buffer.from(SIM_PCK_TCB.components),
    });
  }

  describe(): Record<string, unknown> {
    return { backend: this.name, simulated: true, platform: this.platform.dir, scenario: this.platform.scenario, fmspc: this.platform.fmspc };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
