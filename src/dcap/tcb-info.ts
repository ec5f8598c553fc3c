/**
 * TCB Info (v2: SGX only, flat `sgxtcbcompNNsvn`; v3: SGX and TDX, component
 * arrays, TDX module identities) and Enclave Identity v2, parsed from the exact
 * signed JSON text into one normalised model. Levels are re-sorted the way
 * Intel's QVL orders them (it never trusts JSON order) and duplicates rejected.
 */
import { z } from 'zod';
import { KubeSgxError, type ErrorCode } from '../errors.js';

export const TCB_STATUSES = [
  'UpToDate',
  'SWHardeningNeeded',
  'ConfigurationNeeded',
  'ConfigurationAndSWHardeningNeeded',
  'OutOfDate',
  'OutOfDateConfigurationNeeded',
  'Revoked',
] as const;
export type TcbStatus = (typeof TCB_STATUSES)[number];

export interface TcbLevel {
  sgxComponents: number[];
  pcesvn: number;
  /** TDX TCB Info only */
  tdxComponents: number[] | undefined;
  tcbDate: string;
  tcbStatus: TcbStatus;
  advisoryIds: string[];
}

export interface IdentityTcbLevel {
  isvsvn: number;
  tcbDate: string;
  tcbStatus: TcbStatus;
  advisoryIds: string[];
}

export interface TdxModuleIdentity {
  id: string;
  mrsigner: Uint8Array;
  attributes: Uint8Array;
  attributesMask: Uint8Array;
  tcbLevels: IdentityTcbLevel[];
}

export interface TcbInfo {
  id: 'SGX' | 'TDX';
  version: 2 | 3;
  issueDate: number;
  nextUpdate: number;
  /** uppercase hex, 12 characters */
  fmspc: string;
  /** uppercase hex, 4 characters */
  pceId: string;
  tcbType: number;
  tcbEvaluationDataNumber: number;
  tdxModule: { mrsigner: Uint8Array; attributes: Uint8Array; attributesMask: Uint8Array } | undefined;
  tdxModuleIdentities: TdxModuleIdentity[];
  tcbLevels: TcbLevel[];
}

export interface EnclaveIdentity {
  id: 'QE' | 'QVE' | 'TD_QE' | 'QAE';
  version: 2;
  issueDate: number;
  nextUpdate: number;
  tcbEvaluationDataNumber: number;
  miscselect: Uint8Array;
  miscselectMask: Uint8Array;
  attributes: Uint8Array;
  attributesMask: Uint8Array;
  mrsigner: Uint8Array;
  isvprodid: number;
  tcbLevels: IdentityTcbLevel[];
}

const isoDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/, 'expected YYYY-MM-DDTHH:MM:SSZ')
  .refine((s) => Number.isFinite(Date.parse(s)), 'not a valid date');
const hexOf = (bytes: number) => z.string().regex(new RegExp(`^[0-9a-fA-F]{${bytes * 2}}$`), `expected ${bytes * 2} hex characters`);
// Intel's QVL keeps only the low 8 bits of a component SVN (its synthetic TDX sample has 65473).
const svn = z.number().int().min(0).max(65535);
const status = z.enum(TCB_STATUSES);
const advisories = z.array(z.string().regex(/^[A-Za-z0-9-]{1,64}$/)).optional();
/**
 * 16 `{svn, category?, type?}` components → their SVNs. Checked by hand: these
 * arrays are most of a TCB Info, and a per-element object schema made parsing
 * several times slower than JSON.parse itself.
 */
const components16 = z
  .array(z.unknown())
  .length(16)
  .superRefine((arr, ctx) => {
    arr.forEach((c, i) => {
      const v = typeof c === 'object' && c !== null ? (c as { svn?: unknown }).svn : undefined;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 65535) {
        ctx.addIssue({ code: 'custom', path: [i, 'svn'], message: 'expected an integer SVN 0–65535' });
      }
    });
  })
  .transform((arr) => arr.map((c) => (c as { svn: number }).svn));

const v2Tcb = z.object(
  Object.fromEntries([
    ...Array.from({ length: 16 }, (_, i) => [`sgxtcbcomp${String(i + 1).padStart(2, '0')}svn`, svn]),
    ['pcesvn', z.number().int().min(0).max(65535)],
  ]),
);
const v3Tcb = z.object({
  sgxtcbcomponents: components16,
  pcesvn: z.number().int().min(0).max(65535),
  tdxtcbcomponents: components16.optional(),
});
const identityLevel = z.object({
  tcb: z.object({ isvsvn: z.number().int().min(0).max(65535) }),
  tcbDate: isoDate,
  tcbStatus: status,
  advisoryIDs: advisories,
});

/** Fields TCB Info v2 and v3 share. */
const tcbInfoCommon = {
  issueDate: isoDate,
  nextUpdate: isoDate,
  fmspc: hexOf(6),
  pceId: hexOf(2),
  tcbType: z.number().int(),
  tcbEvaluationDataNumber: z.number().int().min(0),
};

const TcbInfoV2Schema = z.object({
  version: z.literal(2),
  ...tcbInfoCommon,
  tcbLevels: z.array(z.object({ tcb: v2Tcb, tcbDate: isoDate, tcbStatus: status, advisoryIDs: advisories })).min(1),
});

const TcbInfoV3Schema = z.object({
  id: z.enum(['SGX', 'TDX']),
  version: z.literal(3),
  ...tcbInfoCommon,
  tdxModule: z.object({ mrsigner: hexOf(48), attributes: hexOf(8), attributesMask: hexOf(8) }).optional(),
  tdxModuleIdentities: z
    .array(
      z.object({
        id: z.string().min(1).max(32),
        mrsigner: hexOf(48),
        attributes: hexOf(8),
        attributesMask: hexOf(8),
        tcbLevels: z.array(identityLevel).min(1),
      }),
    )
    .optional(),
  tcbLevels: z.array(z.object({ tcb: v3Tcb, tcbDate: isoDate, tcbStatus: status, advisoryIDs: advisories })).min(1),
});

const EnclaveIdentitySchema = z.object({
  id: z.enum(['QE', 'QVE', 'TD_QE', 'QAE']),
  version: z.literal(2),
  issueDate: isoDate,
  nextUpdate: isoDate,
  tcbEvaluationDataNumber: z.number().int().min(0),
  miscselect: hexOf(4),
  miscselectMask: hexOf(4),
  attributes: hexOf(16),
  attributesMask: hexOf(16),
  mrsigner: hexOf(32),
  isvprodid: z.number().int().min(0).max(65535),
  tcbLevels: z.array(identityLevel).min(1),
});

function invalid(code: ErrorCode, what: string, issue: z.core.$ZodIssue): never {
  const path = issue.path.map((p) => (typeof p === 'number' ? p : String(p)));
  throw new KubeSgxError(code, `${what}.${path.join('.') || '(root)'}: ${issue.message}`, { path: [what, ...path] });
}

function parseJson(text: string, code: ErrorCode, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new KubeSgxError(code, `${what}: not JSON (${e instanceof Error ? e.message : String(e)})`, { path: [what], cause: e });
  }
}

const hex = (s: string) => Buffer.from(s, 'hex');

function compareLevels(a: TcbLevel, b: TcbLevel): number {
  for (let i = 0; i < 16; i++) if (a.sgxComponents[i] !== b.sgxComponents[i]) return b.sgxComponents[i] - a.sgxComponents[i];
  if (a.pcesvn !== b.pcesvn) return b.pcesvn - a.pcesvn;
  for (let i = 0; i < 16; i++) {
    const x = a.tdxComponents?.[i] ?? 0;
    const y = b.tdxComponents?.[i] ?? 0;
    if (x !== y) return y - x;
  }
  return 0;
}

function identityLevels(levels: z.infer<typeof identityLevel>[], code: ErrorCode, what: string): IdentityTcbLevel[] {
  const out = levels.map((l) => ({ isvsvn: l.tcb.isvsvn, tcbDate: l.tcbDate, tcbStatus: l.tcbStatus, advisoryIds: l.advisoryIDs ?? [] }));
  out.sort((a, b) => b.isvsvn - a.isvsvn);
  for (let i = 1; i < out.length; i++) {
    if (out[i].isvsvn === out[i - 1].isvsvn) throw new KubeSgxError(code, `${what}: duplicate TCB level isvsvn ${out[i].isvsvn}`, { path: [what, 'tcbLevels'] });
  }
  return out;
}

/** Parses TCB Info v2 or v3 from its exact signed JSON text. Throws TCB_INFO_INVALID naming the field. */
export function parseTcbInfo(text: string): TcbInfo {
  const code: ErrorCode = 'TCB_INFO_INVALID';
  const raw = parseJson(text, code, 'tcbInfo');
  const version = typeof raw === 'object' && raw !== null ? (raw as { version?: unknown }).version : undefined;
  let info: TcbInfo;
  if (version === 2) {
    const r = TcbInfoV2Schema.safeParse(raw);
    if (!r.success) invalid(code, 'tcbInfo', r.error.issues[0]);
    const d = r.data;
    info = {
      id: 'SGX',
      version: 2,
      issueDate: Date.parse(d.issueDate),
      nextUpdate: Date.parse(d.nextUpdate),
      fmspc: d.fmspc.toUpperCase(),
      pceId: d.pceId.toUpperCase(),
      tcbType: d.tcbType,
      tcbEvaluationDataNumber: d.tcbEvaluationDataNumber,
      tdxModule: undefined,
      tdxModuleIdentities: [],
      tcbLevels: d.tcbLevels.map((l) => {
        const t = l.tcb as Record<string, number>;
        return {
          sgxComponents: Array.from({ length: 16 }, (_, i) => t[`sgxtcbcomp${String(i + 1).padStart(2, '0')}svn`] & 0xff),
          pcesvn: t.pcesvn,
          tdxComponents: undefined,
          tcbDate: l.tcbDate,
          tcbStatus: l.tcbStatus,
          advisoryIds: l.advisoryIDs ?? [],
        };
      }),
    };
  } else if (version === 3) {
    const r = TcbInfoV3Schema.safeParse(raw);
    if (!r.success) invalid(code, 'tcbInfo', r.error.issues[0]);
    const d = r.data;
    if (d.id === 'TDX' && d.tdxModule === undefined) throw new KubeSgxError(code, 'tcbInfo.tdxModule: required for TDX', { path: ['tcbInfo', 'tdxModule'] });
    d.tcbLevels.forEach((l, i) => {
      if (d.id === 'TDX' && l.tcb.tdxtcbcomponents === undefined) {
        throw new KubeSgxError(code, `tcbInfo.tcbLevels.${i}.tcb.tdxtcbcomponents: required for TDX`, { path: ['tcbInfo', 'tcbLevels', i, 'tcb', 'tdxtcbcomponents'] });
      }
    });
    info = {
      id: d.id,
      version: 3,
      issueDate: Date.parse(d.issueDate),
      nextUpdate: Date.parse(d.nextUpdate),
      fmspc: d.fmspc.toUpperCase(),
      pceId: d.pceId.toUpperCase(),
      tcbType: d.tcbType,
      tcbEvaluationDataNumber: d.tcbEvaluationDataNumber,
      tdxModule: d.tdxModule && { mrsigner: hex(d.tdxModule.mrsigner), attributes: hex(d.tdxModule.attributes), attributesMask: hex(d.tdxModule.attributesMask) },
      tdxModuleIdentities: (d.tdxModuleIdentities ?? []).map((m) => ({
        id: m.id,
        mrsigner: hex(m.mrsigner),
        attributes: hex(m.attributes),
        attributesMask: hex(m.attributesMask),
        tcbLevels: identityLevels(m.tcbLevels, code, `tcbInfo.tdxModuleIdentities.${m.id}`),
      })),
      tcbLevels: d.tcbLevels.map((l) => ({
        sgxComponents: l.tcb.sgxtcbcomponents.map((v) => v & 0xff),
        pcesvn: l.tcb.pcesvn,
        tdxComponents: d.id === 'TDX' ? l.tcb.tdxtcbcomponents?.map((v) => v & 0xff) : undefined,
        tcbDate: l.tcbDate,
        tcbStatus: l.tcbStatus,
        advisoryIds: l.advisoryIDs ?? [],
      })),
    };
  } else {
    throw new KubeSgxError('TCB_INFO_UNSUPPORTED_VERSION', `tcbInfo.version: ${JSON.stringify(version)} is not supported (2 or 3)`, { path: ['tcbInfo', 'version'] });
  }
  if (info.tcbType !== 0) throw new KubeSgxError(code, `tcbInfo.tcbType: ${info.tcbType} is not supported (0)`, { path: ['tcbInfo', 'tcbType'] });
  info.tcbLevels.sort(compareLevels);
  for (let i = 1; i < info.tcbLevels.length; i++) {
    if (compareLevels(info.tcbLevels[i - 1], info.tcbLevels[i]) === 0) {
      throw new KubeSgxError(code, 'tcbInfo.tcbLevels: duplicate TCB level', { path: ['tcbInfo', 'tcbLevels'] });
    }
  }
  return info;
}

/** Parses Enclave Identity v2 (QE / TD_QE / QVE) from its exact signed JSON text. */
export function parseEnclaveIdentity(text: string): EnclaveIdentity {
  const code: ErrorCode = 'QE_IDENTITY_INVALID';
  const raw = parseJson(text, code, 'enclaveIdentity');
  const version = typeof raw === 'object' && raw !== null ? (raw as { version?: unknown }).version : undefined;
  if (version !== 2) {
    throw new KubeSgxError('QE_IDENTITY_UNSUPPORTED_VERSION', `enclaveIdentity.version: ${JSON.stringify(version)} is not supported (2)`, { path: ['enclaveIdentity', 'version'] });
  }
  const r = EnclaveIdentitySchema.safeParse(raw);
  if (!r.success) invalid(code, 'enclaveIdentity', r.error.issues[0]);
  const d = r.data;
  return {
    id: d.id,
    version: 2,
    issueDate: Date.parse(d.issueDate),
    nextUpdate: Date.parse(d.nextUpdate),
    tcbEvaluationDataNumber: d.tcbEvaluationDataNumber,
    miscselect: hex(d.miscselect),
    miscselectMask: hex(d.miscselectMask),
    attributes: hex(d.attributes),
    attributesMask: hex(d.attributesMask),
    mrsigner: hex(d.mrsigner),
    isvprodid: d.isvprodid,
    tcbLevels: identityLevels(d.tcbLevels, code, 'enclaveIdentity'),
  };
}
