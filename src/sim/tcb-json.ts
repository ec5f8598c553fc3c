/**
 * TCB Info v3 (SGX; tdx-json.ts adds TDX's) and the QE Identity v2 of both
 * simulated quoting enclaves (QE, TD_QE) for the simulated platform, signed as Intel
 * signs them: ECDSA P-256 / SHA-256, raw r‖s in hex, over the exact compact
 * JSON text of the `tcbInfo` / `enclaveIdentity` object (reference dcap.md
 * §3.3). Members are emitted in Intel's order.
 */
import type { KeyObject } from 'node:crypto';
import { SIM_FMSPC, SIM_PCE_ID, SIM_PCK_TCB, SIM_QE, type SimQeIdentity, type TcbScenario } from './identity.js';
import { signP256Raw } from './keys.js';
import { SIM_TD_QE } from './td-identity.js';

type Status = 'UpToDate' | 'SWHardeningNeeded' | 'OutOfDate' | 'Revoked';
export interface Level {
  components: readonly number[];
  pcesvn: number;
  tcbDate: string;
  tcbStatus: Status;
  advisoryIDs?: string[];
}

/** Advisory IDs the scenarios carry (real Intel advisories of the kind each status comes with). */
export const SIM_ADVISORIES = {
  swHardening: ['INTEL-SA-00334', 'INTEL-SA-00615'],
  outOfDate: ['INTEL-SA-00657', 'INTEL-SA-00767', 'INTEL-SA-00828'],
  older: ['INTEL-SA-00586', 'INTEL-SA-00614'],
} as const;

const pck = SIM_PCK_TCB;
const bump = (d: number) => pck.components.map((c, i) => (i < 2 ? Math.max(0, Math.min(255, c + d)) : c));
const HIGHER = { components: bump(2), pcesvn: pck.pcesvn + 1 };
const LOWER = { components: bump(-2), pcesvn: pck.pcesvn - 2 };
const CURRENT = { components: pck.components, pcesvn: pck.pcesvn };

/** TCB levels per scenario, highest first; the PCK's TCB matches CURRENT. */
export function scenarioLevels(scenario: TcbScenario): Level[] {
  const older: Level = { ...LOWER, tcbDate: '2023-02-15T00:00:00Z', tcbStatus: 'OutOfDate', advisoryIDs: [...SIM_ADVISORIES.older] };
  switch (scenario) {
    case 'up-to-date':
      return [{ ...CURRENT, tcbDate: '2024-03-13T00:00:00Z', tcbStatus: 'UpToDate' }, older];
    case 'sw-hardening-needed':
      return [{ ...CURRENT, tcbDate: '2024-03-13T00:00:00Z', tcbStatus: 'SWHardeningNeeded', advisoryIDs: [...SIM_ADVISORIES.swHardening] }, older];
    case 'out-of-date':
      return [
        { ...HIGHER, tcbDate: '2025-05-14T00:00:00Z', tcbStatus: 'UpToDate' },
        { ...CURRENT, tcbDate: '2024-03-13T00:00:00Z', tcbStatus: 'OutOfDate', advisoryIDs: [...SIM_ADVISORIES.outOfDate] },
        older,
      ];
    case 'revoked':
      return [
        { ...HIGHER, tcbDate: '2025-05-14T00:00:00Z', tcbStatus: 'UpToDate' },
        { ...CURRENT, tcbDate: '2024-03-13T00:00:00Z', tcbStatus: 'Revoked', advisoryIDs: [...SIM_ADVISORIES.outOfDate] },
        { ...older, tcbStatus: 'Revoked' },
      ];
  }
}

/** Intel's date format: whole seconds, `Z`. */
export const isoSeconds = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

export const TCB_EVALUATION_DATA_NUMBER = 17;

/** The members every TCB Info v3 (SGX or TDX) starts with, in Intel's order. */
export function tcbInfoHead(id: 'SGX' | 'TDX', issueDate: Date, nextUpdate: Date) {
  return {
    id,
    version: 3,
    issueDate: isoSeconds(issueDate),
    nextUpdate: isoSeconds(nextUpdate),
    fmspc: SIM_FMSPC,
    pceId: SIM_PCE_ID,
    tcbType: 0,
    tcbEvaluationDataNumber: TCB_EVALUATION_DATA_NUMBER,
  };
}

/** What a TCB level says after its `tcb`: date, status and (when any) advisories, in Intel's order. */
export const levelVerdict = (l: Level) => ({ tcbDate: l.tcbDate, tcbStatus: l.tcbStatus, ...(l.advisoryIDs ? { advisoryIDs: l.advisoryIDs } : {}) });

/** Compact `tcbInfo` JSON text (v3, SGX) for a scenario. */
export function tcbInfoJson(scenario: TcbScenario, issueDate: Date, nextUpdate: Date): string {
  return JSON.stringify({
    ...tcbInfoHead('SGX', issueDate, nextUpdate),
    tcbLevels: scenarioLevels(scenario).map((l) => ({ tcb: { sgxtcbcomponents: l.components.map((svn) => ({ svn })), pcesvn: l.pcesvn }, ...levelVerdict(l) })),
  });
}

export const hexUpper = (b: Uint8Array) => Buffer.from(b).toString('hex').toUpperCase();

/** The simulated quoting enclave each Enclave Identity id describes. */
const QE_OF_ID: Readonly<Record<'QE' | 'TD_QE', SimQeIdentity>> = { QE: SIM_QE, TD_QE: SIM_TD_QE };

/**
 * Compact `enclaveIdentity` JSON text (v2) for a simulated quoting enclave:
 * id QE for the QE3, TD_QE for the TD QE (same members, same masks in Intel's).
 */
export function qeIdentityJson(id: 'QE' | 'TD_QE', issueDate: Date, nextUpdate: Date): string {
  const qe = QE_OF_ID[id];
  const attrs = Buffer.alloc(16);
  attrs.writeBigUInt64LE(qe.attributes.flags, 0);
  attrs.writeBigUInt64LE(qe.attributes.xfrm, 8);
  // Intel's masks: flags must be INIT|PROVISIONKEY with DEBUG clear; MODE64BIT and XFRM ignored.
  const mask = Buffer.from('FBFFFFFFFFFFFFFF0000000000000000', 'hex');
  const expected = Buffer.from(attrs.map((b, i) => b & mask[i]));
  return JSON.stringify({
    id,
    version: 2,
    issueDate: isoSeconds(issueDate),
    nextUpdate: isoSeconds(nextUpdate),
    tcbEvaluationDataNumber: TCB_EVALUATION_DATA_NUMBER,
    miscselect: '00000000',
    miscselectMask: 'FFFFFFFF',
    attributes: hexUpper(expected),
    attributesMask: hexUpper(mask),
    mrsigner: hexUpper(qe.mrSigner),
    isvprodid: qe.isvProdId,
    tcbLevels: [
      { tcb: { isvsvn: qe.isvSvn }, tcbDate: '2024-03-13T00:00:00Z', tcbStatus: 'UpToDate' },
      { tcb: { isvsvn: qe.isvSvn - 2 }, tcbDate: '2023-02-15T00:00:00Z', tcbStatus: 'OutOfDate', advisoryIDs: ['INTEL-SA-00615'] },
    ],
  });
}

/** Intel's JSON signature: ECDSA P-256/SHA-256, raw r‖s, lowercase hex, over the exact UTF-8 bytes. */
export function signJsonText(text: string, key: KeyObject): string {
  return signP256Raw(Buffer.from(text, 'utf8'), key).toString('hex');
}

/** TCB Info and QE Identity texts as collateral carries them, each with its signature by the TCB Signing key. */
export function signedTcbDocuments(tcbInfo: string, qeIdentity: string, tcbSigningKey: KeyObject) {
  return {
    tcb_info: tcbInfo,
    tcb_info_signature: signJsonText(tcbInfo, tcbSigningKey),
    qe_identity: qeIdentity,
    qe_identity_signature: signJsonText(qeIdentity, tcbSigningKey),
  };
}
