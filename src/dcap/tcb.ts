/**
 * TCB level selection and status convergence, as Intel's QVL/QvE do them
 * (reference dcap.md §5.2–5.3). The QE and the TDX module are "components":
 * their own status can only pull the platform status down.
 */
import { KubeSgxError } from '../errors.js';
import { TCB_STATUSES, type IdentityTcbLevel, type TcbInfo, type TcbLevel, type TcbStatus, type TdxModuleIdentity } from './tcb-info.js';

/**
 * First level (levels are sorted descending) whose every SGX component and
 * PCESVN is ≤ the platform's; for TDX also the TEE_TCB_SVN bytes from `tdxFrom`.
 */
export function selectTcbLevel(info: TcbInfo, sgxComponents: ArrayLike<number>, pcesvn: number, teeTcbSvn?: Uint8Array): TcbLevel {
  // When the module version byte is set, bytes 0–1 are judged by the module identity instead.
  const tdxFrom = teeTcbSvn && teeTcbSvn[1] > 0 ? 2 : 0;
  for (const level of info.tcbLevels) {
    let ok = pcesvn >= level.pcesvn;
    for (let i = 0; ok && i < 16; i++) ok = sgxComponents[i] >= level.sgxComponents[i];
    if (ok && teeTcbSvn) {
      const want = level.tdxComponents;
      if (!want) ok = false;
      else for (let i = tdxFrom; ok && i < 16; i++) ok = teeTcbSvn[i] >= want[i];
    }
    if (ok) return level;
  }
  throw new KubeSgxError('TCB_NOT_SUPPORTED', `no TCB level of FMSPC ${info.fmspc} matches the platform's TCB (PCESVN ${pcesvn})`, {
    details: { fmspc: info.fmspc, pcesvn, sgxComponents: Array.from(sgxComponents), ...(teeTcbSvn ? { teeTcbSvn: Buffer.from(teeTcbSvn).toString('hex') } : {}) },
  });
}

/** First identity level (sorted by descending isvsvn) with isvsvn ≤ the enclave's. */
export function selectIdentityLevel(levels: IdentityTcbLevel[], isvsvn: number): IdentityTcbLevel | undefined {
  return levels.find((l) => isvsvn >= l.isvsvn);
}

export interface TdxModuleMatch {
  /** module identity id (e.g. TDX_01), undefined when TEE_TCB_SVN[1] = 0 */
  id: string | undefined;
  mrsigner: Uint8Array;
  attributes: Uint8Array;
  attributesMask: Uint8Array;
  level: IdentityTcbLevel | undefined;
}

/** The expected TDX module identity for a TEE_TCB_SVN (module SVN in byte 0, major version in byte 1). */
export function selectTdxModule(info: TcbInfo, teeTcbSvn: Uint8Array): TdxModuleMatch {
  const base = info.tdxModule;
  if (!base) throw new KubeSgxError('TDX_MODULE_MISMATCH', 'TCB Info has no tdxModule');
  const version = teeTcbSvn[1];
  if (version === 0) return { id: undefined, ...base, level: undefined };
  const want = `TDX_${version.toString(16).toUpperCase().padStart(2, '0')}`;
  const ident: TdxModuleIdentity | undefined = info.tdxModuleIdentities.find((m) => m.id.toUpperCase() === want);
  if (!ident) throw new KubeSgxError('TDX_MODULE_MISMATCH', `TCB Info has no TDX module identity ${want}`, { details: { moduleId: want } });
  const level = selectIdentityLevel(ident.tcbLevels, teeTcbSvn[0]);
  if (!level) {
    throw new KubeSgxError('TCB_NOT_SUPPORTED', `TDX module ${want} SVN ${teeTcbSvn[0]} is below every TCB level`, { details: { moduleId: want, svn: teeTcbSvn[0] } });
  }
  return { id: ident.id, mrsigner: ident.mrsigner, attributes: ident.attributes, attributesMask: ident.attributesMask, level };
}

/** Intel's view of a component (QE, TDX module) level: only UpToDate, OutOfDate or Revoked. */
function componentClass(s: TcbStatus): 'UpToDate' | 'OutOfDate' | 'Revoked' {
  if (s === 'UpToDate' || s === 'Revoked') return s;
  return 'OutOfDate';
}

/**
 * Intel's convergence (QVL/QvE; reference §5.3): a Revoked anything is
 * Revoked; an out-of-date component turns a platform status that needs
 * configuration into OutOfDateConfigurationNeeded and any other into OutOfDate.
 */
export function convergeTcbStatus(platform: TcbStatus, components: TcbStatus[]): TcbStatus {
  const classes = components.map(componentClass);
  if (platform === 'Revoked' || classes.includes('Revoked')) return 'Revoked';
  if (!classes.includes('OutOfDate')) return platform;
  switch (platform) {
    case 'ConfigurationNeeded':
    case 'ConfigurationAndSWHardeningNeeded':
    case 'OutOfDateConfigurationNeeded':
      return 'OutOfDateConfigurationNeeded';
    default:
      return 'OutOfDate';
  }
}

// dcap-qvl ranks statuses in the order TCB_STATUSES lists them (best first).
const DCAP_QVL_ORDER: readonly TcbStatus[] = TCB_STATUSES;

/**
 * Phala dcap-qvl's rule, for comparison only (not used for results): the
 * worst status by a fixed order. It differs from Intel where a platform that
 * needs configuration meets an OutOfDate QE: OutOfDate instead of
 * OutOfDateConfigurationNeeded.
 */
export function convergeTcbStatusLikeDcapQvl(platform: TcbStatus, components: TcbStatus[]): TcbStatus {
  let worst = DCAP_QVL_ORDER.indexOf(platform);
  for (const c of components) worst = Math.max(worst, DCAP_QVL_ORDER.indexOf(c));
  return DCAP_QVL_ORDER[worst];
}

/** Ordered union of advisory ID lists without duplicates (platform first). */
export function mergeAdvisoryIds(...lists: string[][]): string[] {
  const seen = new Set<string>();
  for (const l of lists) for (const id of l) seen.add(id);
  return [...seen];
}

export type TdRelaunchAdvice = 'TD_RELAUNCH_ADVISED' | 'TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED';

const RELAUNCH_CURRENT: ReadonlySet<TcbStatus> = new Set(['UpToDate', 'SWHardeningNeeded', 'ConfigurationNeeded', 'ConfigurationAndSWHardeningNeeded']);

/**
 * TD report 1.5 (Intel QVL 2026, reference §5.2): the TD was launched on an
 * out-of-date TCB (TEE_TCB_SVN) but the TDX module has since been updated
 * (TEE_TCB_SVN2) to a TCB that is not out of date — relaunching the TD would
 * bring it up to date. Reported as advice beside the (launch) status.
 */
export function tdRelaunchAdvice(launch: TcbStatus, current: TcbStatus | undefined): TdRelaunchAdvice | undefined {
  if (current === undefined || (launch !== 'OutOfDate' && launch !== 'OutOfDateConfigurationNeeded') || !RELAUNCH_CURRENT.has(current)) return undefined;
  const configuration = launch === 'OutOfDateConfigurationNeeded' || current === 'ConfigurationNeeded' || current === 'ConfigurationAndSWHardeningNeeded';
  return configuration ? 'TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED' : 'TD_RELAUNCH_ADVISED';
}
