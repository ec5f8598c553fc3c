/**
 * Adapts src/sgx's parsed Quote (engineer A's codec; the only quote parser)
 * and PCK extensions to what verification needs, and renders the identity
 * fields of the result.
 */
import { KubeSgxError } from '../errors.js';
import { parseQuote, type Quote } from '../sgx/quote.js';
import { parsePckExtensionValue } from '../sgx/pck-extensions.js';
import type { ReportBody } from '../sgx/report.js';
import type { TdReport10, TdReport15 } from '../sgx/td-report.js';
import type { EnclaveIdentityResult, TdIdentityResult } from './result.js';
import type { PckInfo, QuoteParts } from './verify-core.js';
import type { Certificate } from './x509.js';

/** Real quotes are ~5 KB (TDX guests pad to 8 KB); anything far larger is rejected before parsing. */
export const MAX_QUOTE_BYTES = 64 * 1024;
export const SGX_EXTENSION_OID = '1.2.840.113741.1.13.1';

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

function u64le(v: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt.asUintN(64, v));
  return b;
}

/** The 16 ATTRIBUTES bytes exactly as in the report: flags ‖ xfrm, each u64 LE. */
function attributeBytes(r: ReportBody): Buffer {
  return Buffer.concat([u64le(r.attributes.flags), u64le(r.attributes.xfrm)]);
}

export function enclaveIdentity(r: ReportBody): EnclaveIdentityResult {
  const misc = Buffer.alloc(4);
  misc.writeUInt32LE(r.miscSelect >>> 0);
  return {
    mrEnclave: hex(r.mrEnclave),
    mrSigner: hex(r.mrSigner),
    isvProdId: r.isvProdId,
    isvSvn: r.isvSvn,
    configSvn: r.configSvn,
    miscSelect: hex(misc),
    attributes: hex(attributeBytes(r)),
    debug: r.attributes.debug,
    isvExtProdId: hex(r.isvExtProdId),
    isvFamilyId: hex(r.isvFamilyId),
    configId: hex(r.configId),
    cpuSvn: hex(r.cpuSvn),
    reportData: hex(r.reportData),
  };
}

export function tdIdentity(td: TdReport10 | TdReport15): TdIdentityResult {
  const out: TdIdentityResult = {
    teeTcbSvn: hex(td.teeTcbSvn),
    mrSeam: hex(td.mrSeam),
    mrSignerSeam: hex(td.mrSignerSeam),
    seamAttributes: hex(u64le(td.seamAttributes)),
    tdAttributes: hex(u64le(td.tdAttributes.value)),
    debug: td.tdAttributes.debug,
    xfam: hex(u64le(td.xfam)),
    mrTd: hex(td.mrTd),
    mrConfigId: hex(td.mrConfigId),
    mrOwner: hex(td.mrOwner),
    mrOwnerConfig: hex(td.mrOwnerConfig),
    rtMr: td.rtMr.map(hex),
    reportData: hex(td.reportData),
  };
  if ('teeTcbSvn2' in td) {
    out.teeTcbSvn2 = hex(td.teeTcbSvn2);
    out.mrServiceTd = hex(td.mrServiceTd);
  }
  return out;
}

/** Parses quote bytes with src/sgx, after a size cap. */
export function parseQuoteBytes(bytes: Uint8Array): Quote {
  if (!(bytes instanceof Uint8Array)) throw new KubeSgxError('INVALID_QUOTE', 'quote must be bytes');
  if (bytes.length > MAX_QUOTE_BYTES) {
    throw new KubeSgxError('QUOTE_TOO_LARGE', `quote is ${bytes.length} bytes; the limit is ${MAX_QUOTE_BYTES}`, { details: { size: bytes.length, limit: MAX_QUOTE_BYTES } });
  }
  return parseQuote(bytes);
}

export function quoteParts(q: Quote): QuoteParts {
  const sd = q.signatureData;
  const cd = sd.certificationData;
  const qe = sd.qeReport;
  const teeType = q.header.teeType === 0x81 ? 'TDX' : 'SGX';
  const parts: QuoteParts = {
    version: q.header.version,
    teeType,
    signedRegion: q.signedBytes,
    signature: sd.signature,
    attestationKey: sd.attestationKey,
    qeReport: sd.qeReportBytes,
    qe: { miscSelect: qe.miscSelect, attributes: attributeBytes(qe), mrSigner: qe.mrSigner, isvProdId: qe.isvProdId, isvSvn: qe.isvSvn, reportData: qe.reportData },
    qeReportSignature: sd.qeReportSignature,
    qeAuthData: sd.qeAuthData,
    certDataType: cd.type,
    certData: cd.data,
  };
  const body = q.body;
  if (body.type === 1) {
    if (teeType !== 'SGX') throw new KubeSgxError('INVALID_QUOTE', 'a TDX quote with an SGX report body');
    parts.enclave = enclaveIdentity(body.sgx);
  } else {
    if (teeType !== 'TDX') throw new KubeSgxError('INVALID_QUOTE', 'an SGX quote with a TD report body');
    const td = body.type === 2 ? body.td10 : body.td15;
    parts.tdx = { teeTcbSvn: td.teeTcbSvn, mrSignerSeam: td.mrSignerSeam, seamAttributes: u64le(td.seamAttributes) };
    if (body.type === 3) parts.tdx.teeTcbSvn2 = body.td15.teeTcbSvn2;
    parts.td = tdIdentity(td);
  }
  return parts;
}

/** The PCK certificate's SGX extension values verification uses. */
export function pckInfo(leaf: Certificate): PckInfo {
  const ext = leaf.extensions.get(SGX_EXTENSION_OID);
  if (!ext) throw new KubeSgxError('PCK_CHAIN_INVALID', `PCK certificate has no SGX extension (${SGX_EXTENSION_OID})`);
  let e;
  try {
    e = parsePckExtensionValue(ext.value);
  } catch (err) {
    if (err instanceof KubeSgxError) throw new KubeSgxError('PCK_CHAIN_INVALID', `PCK certificate SGX extension: ${err.message}`, { cause: err, path: err.path });
    throw err;
  }
  return {
    fmspc: hex(e.fmspc).toUpperCase(),
    pceId: hex(e.pceId).toUpperCase(),
    pcesvn: e.pceSvn,
    sgxComponents: [...e.tcbComponents],
  };
}
