/**
 * TDX TCB Info v3 (`id` TDX, with `tdxModule`, `tdxModuleIdentities` and
 * `tdxtcbcomponents`) of the simulated platform, and its TDX collateral with
 * the TD QE Identity v2 (`id` TD_QE, made in tcb-json.ts beside the QE3's),
 * member for member in the order Intel's PCS emits them
 * (compare testdata/dcap/phala-dcap-qvl/sample/tdx_quote_collateral.json).
 * The platform levels are the SGX scenario's levels (tcb-json.ts) with TDX
 * components added, so each scenario gives the same status for TDX as for SGX.
 */
import type { KeyObject } from 'node:crypto';
import { parseCollateral, type Collateral } from '../dcap/collateral.js';
import { SIM_PCK_TCB, type TcbScenario } from './identity.js';
import { hexUpper, levelVerdict, qeIdentityJson, scenarioLevels, signedTcbDocuments, tcbInfoHead } from './tcb-json.js';
import { SIM_TDX_MODULE } from './td-identity.js';

const SGX_COMPONENT_NAMES: ReadonlyArray<{ category?: string; type?: string }> = [
  { category: 'BIOS', type: 'Early Microcode Update' },
  { category: 'OS/VMM', type: 'SGX Late Microcode Update' },
  { category: 'OS/VMM', type: 'TXT SINIT' },
  { category: 'BIOS' },
  { category: 'BIOS' },
  { category: 'BIOS' },
  {},
  { category: 'OS/VMM', type: 'SEAMLDR ACM' },
];
const TDX_COMPONENT_NAMES: ReadonlyArray<{ category?: string; type?: string }> = [
  { category: 'OS/VMM', type: 'TDX Module' },
  { category: 'OS/VMM', type: 'TDX Module' },
  { category: 'OS/VMM', type: 'TDX Late Microcode Update' },
];

const named = (svns: readonly number[], names: ReadonlyArray<{ category?: string; type?: string }>) => svns.map((svn, i) => ({ svn, ...(names[i] ?? {}) }));

/**
 * TDX components of a TCB level: bytes 0–1 (module SVN and version) are judged
 * by the module identity, so like Intel's they carry the module SVN and 0;
 * byte 2 (TDX microcode) moves with the level.
 */
function tdxComponents(delta: number): number[] {
  const c = Array.from(SIM_TDX_MODULE.teeTcbSvn);
  c[1] = 0;
  c[2] = Math.max(0, c[2] + delta);
  return c;
}

/** The module identity's TCB levels: the simulated module's SVN is current. */
const MODULE_LEVELS = [
  { tcb: { isvsvn: SIM_TDX_MODULE.teeTcbSvn[0] }, tcbDate: '2024-03-13T00:00:00Z', tcbStatus: 'UpToDate' },
  { tcb: { isvsvn: SIM_TDX_MODULE.teeTcbSvn[0] - 2 }, tcbDate: '2023-08-09T00:00:00Z', tcbStatus: 'OutOfDate', advisoryIDs: ['INTEL-SA-00837'] },
];

/** Compact `tcbInfo` JSON text (v3, TDX) for a scenario. */
export function tdxTcbInfoJson(scenario: TcbScenario, issueDate: Date, nextUpdate: Date): string {
  const moduleMrSigner = hexUpper(SIM_TDX_MODULE.mrSignerSeam);
  const levels = scenarioLevels(scenario);
  return JSON.stringify({
    ...tcbInfoHead('TDX', issueDate, nextUpdate),
    tdxModule: { mrsigner: moduleMrSigner, attributes: '0000000000000000', attributesMask: 'FFFFFFFFFFFFFFFF' },
    tdxModuleIdentities: [{ id: 'TDX_01', mrsigner: moduleMrSigner, attributes: '0000000000000000', attributesMask: 'FFFFFFFFFFFFFFFF', tcbLevels: MODULE_LEVELS }],
    tcbLevels: levels.map((l) => ({
      tcb: {
        sgxtcbcomponents: named(l.components, SGX_COMPONENT_NAMES),
        pcesvn: l.pcesvn,
        // a level above the PCK's own TCB (higher PCESVN) also needs newer TDX microcode, one below less
        tdxtcbcomponents: named(tdxComponents(2 * Math.sign(l.pcesvn - SIM_PCK_TCB.pcesvn)), TDX_COMPONENT_NAMES),
      },
      ...levelVerdict(l),
    })),
  });
}

/**
 * The TDX collateral of a platform, derived from its SGX collateral: the same
 * CRLs and issuer chains (one PCK hierarchy serves both, as on Intel's TDX
 * platforms), with the TDX TCB Info and TD QE Identity issued for the same
 * window and signed by the same TCB Signing key.
 */
export function tdxCollateralFrom(sgx: Collateral, scenario: TcbScenario, tcbSigningKey: KeyObject): Collateral {
  const window = JSON.parse(sgx.tcb_info) as { issueDate: string; nextUpdate: string };
  const issued = new Date(window.issueDate);
  const next = new Date(window.nextUpdate);
  return parseCollateral({
    pck_crl_issuer_chain: sgx.pck_crl_issuer_chain,
    root_ca_crl: sgx.root_ca_crl,
    pck_crl: sgx.pck_crl,
    tcb_info_issuer_chain: sgx.tcb_info_issuer_chain,
    qe_identity_issuer_chain: sgx.qe_identity_issuer_chain,
    ...signedTcbDocuments(tdxTcbInfoJson(scenario, issued, next), qeIdentityJson('TD_QE', issued, next), tcbSigningKey),
  });
}
