/**
 * The demo's "enclave app": an enclave identity built the way a real one is
 * (MRENCLAVE measured from a page layout, MRSIGNER from an RSA-3072/e=3
 * SIGSTRUCT signing key) and the app-side quoting flow of an unchanged
 * DCAP app with SGX_AESM_ADDR=1: target info from the aesmd socket, EREPORT
 * targeted at the QE, quote from the socket. Only EREPORT is simulated.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { KubeSgxError } from '../errors.js';
import { AesmClient, type SimQuotingPlatform } from '../quotehelper/index.js';
import { buildSigstruct, measureEnclave, mrSignerOfKey, verifySigstruct, type SimPlatform } from '../sim/index.js';

export interface DemoEnclaveIdentity {
  mrEnclave: Buffer;
  mrSigner: Buffer;
  isvProdId: number;
  isvSvn: number;
  debug: boolean;
}

/** Measures a small two-page enclave (a TCS and a code page holding `code`) and signs its SIGSTRUCT. */
export function buildDemoEnclave(code: string, opts: { isvProdId?: number; isvSvn?: number } = {}): DemoEnclaveIdentity & { sigstruct: Buffer } {
  const mrEnclave = measureEnclave({
    enclaveSize: 0x10000,
    ssaFrameSize: 1,
    pages: [
      { offset: 0, secinfo: 'tcs', data: { hex: '00'.repeat(72) } },
      { offset: 0x1000, secinfo: 'code', data: { hex: Buffer.from(code, 'utf8').toString('hex') } },
    ],
  });
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 3072, publicExponent: 3 });
  const isvProdId = opts.isvProdId ?? 1;
  const isvSvn = opts.isvSvn ?? 1;
  const sigstruct = buildSigstruct({ mrEnclave, key: privateKey, isvProdId, isvSvn });
  verifySigstruct(sigstruct);
  return { mrEnclave, mrSigner: mrSignerOfKey(privateKey), isvProdId, isvSvn, debug: false, sigstruct };
}

/** MAA's runtime-data binding: SHA-256(runtimeData) in the first 32 bytes of REPORTDATA. */
export function reportDataFor(runtimeData: Uint8Array): Buffer {
  const rd = Buffer.alloc(64);
  createHash('sha256').update(runtimeData).digest().copy(rd, 0);
  return rd;
}

/**
 * What an enclave app does to get a quote out of process: InitQuoteEx (QE
 * target info), EREPORT for that target, GetQuoteEx. `platform` stands in
 * for the CPU's EREPORT only.
 */
export class DemoEnclaveApp {
  readonly client: AesmClient;

  constructor(
    socketPath: string,
    private readonly platform: SimPlatform,
    readonly identity: DemoEnclaveIdentity,
  ) {
    this.client = new AesmClient({ socketPath, timeoutMs: 10_000 });
  }

  /** EREPORT for `targetInfo` with this enclave's identity and `reportData`. */
  report(targetInfo: Buffer, reportData: Uint8Array): Buffer {
    if (reportData.length !== 64) throw new KubeSgxError('DEMO_BAD_REPORT_DATA', `report data is ${reportData.length} bytes, expected 64`);
    const id = this.identity;
    return this.platform.ereport({ targetInfo, reportData, mrEnclave: id.mrEnclave, mrSigner: id.mrSigner, isvProdId: id.isvProdId, isvSvn: id.isvSvn, debug: id.debug });
  }

  /** Target info → report → quote, over the aesmd socket. */
  async quote(reportData: Uint8Array): Promise<{ targetInfo: Buffer; report: Buffer; quote: Buffer }> {
    const targetInfo = await this.client.targetInfo();
    const report = this.report(targetInfo, reportData);
    const quote = await this.client.getQuote(report);
    return { targetInfo, report, quote };
  }
}

/**
 * The simulator's platform as the quote helper's sim backend wants it (the two
 * components type the quote version differently: 3 | 4 against number).
 */
export function quotingPlatform(platform: SimPlatform): SimQuotingPlatform {
  const version = (v: number | undefined): 3 | 4 | undefined => (v === undefined ? undefined : v === 4 ? 4 : 3);
  return {
    qeTargetInfo: () => platform.qeTargetInfo(),
    attestationKeyId: () => platform.attestationKeyId(),
    quoteSize: (v) => platform.quoteSize(version(v) ?? 3),
    getQuote: (report, opts) => {
      const v = version(opts?.version);
      return platform.getQuote(report, { ...(v !== undefined ? { version: v } : {}), ...(opts?.qeReportInfo ? { qeReportInfo: opts.qeReportInfo } : {}) });
    },
  };
}
