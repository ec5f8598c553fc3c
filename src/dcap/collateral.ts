/**
 * The collateral JSON (DESIGN.md "Collateral JSON"): the snake_case object of
 * the dcap-qvl projects, so collateral can be fetched once and verified
 * offline. CRLs are stored as lowercase hex of DER; PEM CRLs and Intel's C
 * collateral form (tcb_info / qe_identity holding the whole PCS body with its
 * signature) are accepted on read and normalised.
 */
import { z } from 'zod';
import { KubeSgxError } from '../errors.js';
import { crlToDer } from './pem.js';
import { splitSignedBody } from './signed-json.js';

export interface Collateral {
  /** PEM: PCK Processor/Platform CA, then Root CA */
  pck_crl_issuer_chain: string;
  /** lowercase hex of the Root CA CRL's DER */
  root_ca_crl: string;
  /** lowercase hex of the PCK CRL's DER */
  pck_crl: string;
  /** PEM: TCB Signing, then Root CA */
  tcb_info_issuer_chain: string;
  /** exact signed text of the `tcbInfo` object */
  tcb_info: string;
  /** 128 hex: raw r‖s */
  tcb_info_signature: string;
  qe_identity_issuer_chain: string;
  /** exact signed text of the `enclaveIdentity` object */
  qe_identity: string;
  qe_identity_signature: string;
  /** optional PEM PCK chain (leaf, intermediate, root) for quotes with certification data types 1–4 */
  pck_certificate_chain?: string;
}

const pem = z.string().min(1).refine((s) => s.includes('-----BEGIN CERTIFICATE-----'), 'expected PEM certificates');
const sigHex = z.string().regex(/^[0-9a-fA-F]{128}$/, 'expected 128 hex characters (r‖s)');

const CollateralSchema = z.object({
  pck_crl_issuer_chain: pem,
  root_ca_crl: z.string().min(1),
  pck_crl: z.string().min(1),
  tcb_info_issuer_chain: pem,
  tcb_info: z.string().min(2),
  tcb_info_signature: sigHex.optional(),
  qe_identity_issuer_chain: pem,
  qe_identity: z.string().min(2),
  qe_identity_signature: sigHex.optional(),
  pck_certificate_chain: pem.optional(),
});

function invalid(path: string, message: string): never {
  throw new KubeSgxError('COLLATERAL_INVALID', `collateral.${path}: ${message}`, { path: [path] });
}

/** Signed body + signature, from either the split form or a whole PCS body. */
function signedPart(body: string, signature: string | undefined, key: 'tcbInfo' | 'enclaveIdentity', field: string): [string, string] {
  if (signature !== undefined) return [body, signature.toLowerCase()];
  if (body.includes(`"${key}"`)) {
    try {
      const s = splitSignedBody(body, key);
      if (!/^[0-9a-fA-F]{128}$/.test(s.signature)) invalid(field, 'embedded signature is not 128 hex characters');
      return [s.body, s.signature.toLowerCase()];
    } catch (e) {
      if (e instanceof KubeSgxError && e.code === 'COLLATERAL_INVALID') throw e;
      invalid(field, e instanceof Error ? e.message : String(e));
    }
  }
  return invalid(`${field}_signature`, 'missing');
}

/** Validates and normalises collateral JSON (text or already-parsed object); the result is frozen. */
export function parseCollateral(json: string | object): Collateral {
  let obj: unknown = json;
  if (typeof json === 'string') {
    try {
      obj = JSON.parse(json);
    } catch (e) {
      throw new KubeSgxError('COLLATERAL_INVALID', `collateral: not JSON (${e instanceof Error ? e.message : String(e)})`, { cause: e });
    }
  }
  const r = CollateralSchema.safeParse(obj);
  if (!r.success) {
    const issue = r.error.issues[0];
    const path = issue.path.map(String).join('.') || '(root)';
    throw new KubeSgxError('COLLATERAL_INVALID', `collateral.${path}: ${issue.message}`, { path: issue.path.map((p) => (typeof p === 'number' ? p : String(p))) });
  }
  const c = r.data;
  const [tcbInfo, tcbSig] = signedPart(c.tcb_info, c.tcb_info_signature, 'tcbInfo', 'tcb_info');
  const [qeId, qeSig] = signedPart(c.qe_identity, c.qe_identity_signature, 'enclaveIdentity', 'qe_identity');
  const out: Collateral = {
    pck_crl_issuer_chain: c.pck_crl_issuer_chain,
    root_ca_crl: Buffer.from(crlToDer(c.root_ca_crl, 'root_ca_crl')).toString('hex'),
    pck_crl: Buffer.from(crlToDer(c.pck_crl, 'pck_crl')).toString('hex'),
    tcb_info_issuer_chain: c.tcb_info_issuer_chain,
    tcb_info: tcbInfo,
    tcb_info_signature: tcbSig,
    qe_identity_issuer_chain: c.qe_identity_issuer_chain,
    qe_identity: qeId,
    qe_identity_signature: qeSig,
  };
  if (c.pck_certificate_chain !== undefined) out.pck_certificate_chain = c.pck_certificate_chain;
  // frozen: verifiers may then recognise an already-checked set by identity
  return Object.freeze(out);
}

/** The collateral JSON text (pretty-printed, keys in the canonical order). */
export function serializeCollateral(c: Collateral): string {
  const ordered: Record<string, string> = {
    pck_crl_issuer_chain: c.pck_crl_issuer_chain,
    root_ca_crl: c.root_ca_crl,
    pck_crl: c.pck_crl,
    tcb_info_issuer_chain: c.tcb_info_issuer_chain,
    tcb_info: c.tcb_info,
    tcb_info_signature: c.tcb_info_signature,
    qe_identity_issuer_chain: c.qe_identity_issuer_chain,
    qe_identity: c.qe_identity,
    qe_identity_signature: c.qe_identity_signature,
  };
  if (c.pck_certificate_chain !== undefined) ordered.pck_certificate_chain = c.pck_certificate_chain;
  return JSON.stringify(ordered, null, 2) + '\n';
}

/** Builds collateral from the raw pieces PCS/PCCS serve (response bodies and issuer-chain headers). */
export interface CollateralParts {
  pckCrlIssuerChain: string;
  rootCaCrl: string | Uint8Array;
  pckCrl: string | Uint8Array;
  tcbInfoIssuerChain: string;
  /** whole PCS body {"tcbInfo":…,"signature":…} */
  tcbInfoBody: string;
  qeIdentityIssuerChain: string;
  /** whole PCS body {"enclaveIdentity":…,"signature":…} */
  qeIdentityBody: string;
  pckCertificateChain?: string;
}

export function collateralFromParts(p: CollateralParts): Collateral {
  const tcb = splitSignedBody(p.tcbInfoBody, 'tcbInfo');
  const qe = splitSignedBody(p.qeIdentityBody, 'enclaveIdentity');
  return parseCollateral({
    pck_crl_issuer_chain: p.pckCrlIssuerChain,
    root_ca_crl: Buffer.from(crlToDer(p.rootCaCrl, 'root_ca_crl')).toString('hex'),
    pck_crl: Buffer.from(crlToDer(p.pckCrl, 'pck_crl')).toString('hex'),
    tcb_info_issuer_chain: p.tcbInfoIssuerChain,
    tcb_info: tcb.body,
    tcb_info_signature: tcb.signature,
    qe_identity_issuer_chain: p.qeIdentityIssuerChain,
    qe_identity: qe.body,
    qe_identity_signature: qe.signature,
    ...(p.pckCertificateChain !== undefined ? { pck_certificate_chain: p.pckCertificateChain } : {}),
  });
}
