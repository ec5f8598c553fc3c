/**
 * Everything about a collateral set that does not depend on the quote or the
 * time: its three issuer chains (pinned root, signatures, CA constraints), the
 * two CRLs (issuer, signature, required extensions), revocation of the CAs and
 * the TCB signer, and the TCB Info / QE Identity signatures over their exact
 * bytes. The result is immutable and cacheable; time windows are kept as data
 * and checked on every use.
 */
import { createHash } from 'node:crypto';
import { isHex } from '../encoding.js';
import { KubeSgxError } from '../errors.js';
import { checkChain, checkCrl, crlWindow, parseChainPem, type ChainKind, type CheckedChain } from './chain.js';
import type { Collateral } from './collateral.js';
import { earliestExpiry, type TimeWindow } from './time.js';
import { parseEnclaveIdentity, parseTcbInfo, type EnclaveIdentity, type TcbInfo } from './tcb-info.js';
import type { TrustAnchors } from './trust.js';
import { CertificateCache, parseCrl, verifyRawSignature, type Certificate, type Crl } from './x509.js';

export interface CheckedCollateral {
  trustId: string;
  root: Certificate;
  rootCrl: Crl;
  pckCrl: Crl;
  /** the PCK Processor or Platform CA that signed the PCK CRL */
  pckCrlIssuer: Certificate;
  caType: 'processor' | 'platform';
  tcbInfo: TcbInfo;
  qeIdentity: EnclaveIdentity;
  /** PCK CRL issuer chain certificates, root CA CRL, PCK CRL (checked with the PCK chain, step 5) */
  crlWindows: TimeWindow[];
  /** TCB signing chain and TCB Info (step 6) */
  tcbInfoWindows: TimeWindow[];
  /** QE Identity signing chain and QE Identity (step 7) */
  qeIdentityWindows: TimeWindow[];
  /** earliest nextUpdate / notAfter of everything above, epoch ms */
  expiresAt: number;
}


/** Content key of a collateral set (with the trust set it was checked against). */
export function collateralKey(c: Collateral, trustId: string): string {
  const h = createHash('sha256');
  for (const v of [trustId, c.pck_crl_issuer_chain, c.root_ca_crl, c.pck_crl, c.tcb_info_issuer_chain, c.tcb_info, c.tcb_info_signature, c.qe_identity_issuer_chain, c.qe_identity, c.qe_identity_signature]) {
    h.update(v).update('\0');
  }
  return h.digest('hex');
}

function hexToDer(hex: string, field: string): Uint8Array {
  if (!isHex(hex)) throw new KubeSgxError('COLLATERAL_INVALID', `collateral.${field}: not hex of DER`, { path: [field] });
  return Buffer.from(hex, 'hex');
}

function parseCrlField(hex: string, field: string): Crl {
  try {
    return parseCrl(hexToDer(hex, field));
  } catch (e) {
    // keep the parser's code (CRL_MALFORMED, DER_LENGTH_NOT_MINIMAL, ALGORITHM_IDENTIFIER_MALFORMED, …), name the field
    if (e instanceof KubeSgxError) throw new KubeSgxError(e.code, `collateral.${field}: ${e.message}`, { path: [field], cause: e });
    throw e;
  }
}

function sameRoot(chain: CheckedChain, root: Certificate, kind: ChainKind): void {
  if (chain.root.fingerprint256 !== root.fingerprint256) {
    throw new KubeSgxError(`${kind}_CHAIN_UNTRUSTED`, `${kind} issuer chain ends in a different root than the CRLs`);
  }
}

function signedBody(
  chain: CheckedChain,
  rootCrl: Crl,
  text: string,
  sigHex: string,
  what: string,
  codePrefix: 'TCB_INFO' | 'QE_IDENTITY',
): void {
  if (rootCrl.revokedSerials.has(chain.leaf.serialHex)) {
    throw new KubeSgxError('TCB_SIGNING_CERT_REVOKED', `${what}: signing certificate "${chain.leaf.subjectCn}" (serial ${chain.leaf.serialHex}) is on the root CA CRL`);
  }
  const sig = Buffer.from(sigHex, 'hex');
  if (sig.length !== 64 || !verifyRawSignature(chain.leaf.publicKey, Buffer.from(text, 'utf8'), sig)) {
    throw new KubeSgxError(`${codePrefix}_SIGNATURE_INVALID`, `${what}: signature by "${chain.leaf.subjectCn}" is invalid`);
  }
}

/** Checks a collateral set against `trust`; throws a specific KubeSgxError for each failure. */
export function checkCollateral(c: Collateral, trust: TrustAnchors, certs: CertificateCache = new CertificateCache()): CheckedCollateral {
  const parseChain = (pem: string, kind: 'PCK_CRL' | 'TCB_INFO' | 'QE_IDENTITY') => parseChainPem(pem, kind, certs);
  // PCK CRL issuer chain and the two CRLs
  const crlChain = checkChain(parseChain(c.pck_crl_issuer_chain, 'PCK_CRL'), 'PCK_CRL', trust);
  const root = crlChain.root;
  const pckCrlIssuer = crlChain.leaf;
  const rootCrl = parseCrlField(c.root_ca_crl, 'root_ca_crl');
  const pckCrl = parseCrlField(c.pck_crl, 'pck_crl');
  checkCrl(rootCrl, root, 'root CA CRL');
  checkCrl(pckCrl, pckCrlIssuer, 'PCK CRL');
  if (rootCrl.revokedSerials.has(pckCrlIssuer.serialHex)) {
    throw new KubeSgxError('INTERMEDIATE_CA_REVOKED', `"${pckCrlIssuer.subjectCn}" (serial ${pckCrlIssuer.serialHex}) is on the root CA CRL`);
  }
  if (rootCrl.revokedSerials.has(root.serialHex)) throw new KubeSgxError('ROOT_CA_REVOKED', 'the root CA is on its own CRL');
  const caType = pckCrlIssuer.subjectCn.includes('Platform') ? 'platform' : 'processor';

  // TCB Info
  const tcbChain = checkChain(parseChain(c.tcb_info_issuer_chain, 'TCB_INFO'), 'TCB_INFO', trust);
  sameRoot(tcbChain, root, 'TCB_INFO');
  signedBody(tcbChain, rootCrl, c.tcb_info, c.tcb_info_signature, 'TCB Info', 'TCB_INFO');
  const tcbInfo = parseTcbInfo(c.tcb_info);

  // QE Identity
  const qeChain = checkChain(parseChain(c.qe_identity_issuer_chain, 'QE_IDENTITY'), 'QE_IDENTITY', trust);
  sameRoot(qeChain, root, 'QE_IDENTITY');
  signedBody(qeChain, rootCrl, c.qe_identity, c.qe_identity_signature, 'QE Identity', 'QE_IDENTITY');
  const qeIdentity = parseEnclaveIdentity(c.qe_identity);

  const crlWindows = [...crlChain.windows, crlWindow(rootCrl, 'root CA CRL'), crlWindow(pckCrl, 'PCK CRL')];
  const tcbInfoWindows: TimeWindow[] = [
    ...tcbChain.windows,
    { what: 'TCB Info', notBefore: tcbInfo.issueDate, notAfter: tcbInfo.nextUpdate, expiredCode: 'TCB_INFO_EXPIRED', notYetValidCode: 'TCB_INFO_NOT_YET_VALID' },
  ];
  const qeIdentityWindows: TimeWindow[] = [
    ...qeChain.windows,
    { what: 'QE Identity', notBefore: qeIdentity.issueDate, notAfter: qeIdentity.nextUpdate, expiredCode: 'QE_IDENTITY_EXPIRED', notYetValidCode: 'QE_IDENTITY_NOT_YET_VALID' },
  ];
  return {
    trustId: trust.id,
    root,
    rootCrl,
    pckCrl,
    pckCrlIssuer,
    caType,
    tcbInfo,
    qeIdentity,
    crlWindows,
    tcbInfoWindows,
    qeIdentityWindows,
    expiresAt: earliestExpiry([...crlWindows, ...tcbInfoWindows, ...qeIdentityWindows]),
  };
}
