/**
 * Creating a platform's key material and certificates, and (re)generating its
 * collateral from them. Keys never change after creation; collateral (CRLs,
 * TCB Info, QE Identity) is re-issued and re-signed whenever it nears expiry.
 */
// @peculiar/x509 needs the Reflect metadata polyfill loaded before it (tsyringe).
import 'reflect-metadata';
import type { KeyObject } from 'node:crypto';
import type * as x509 from '@peculiar/x509';
import { parseCollateral, type Collateral } from '../dcap/collateral.js';
import { SGX_TYPE } from '../sgx/pck-extensions.js';
import { SIM_CPU_SVN, SIM_FMSPC, SIM_PCE_ID, SIM_PCK_TCB, type TcbScenario } from './identity.js';
import { derive, deriveP256Key, deriveSerial, masterSecret, seedFingerprint } from './keys.js';
import { DETERMINISTIC_CRYPTO, SIM_CRL_URLS, SUBJECTS, certPem, issueCertificate, issueCrl, pckExtensionValue } from './pki.js';
import { isoSeconds, qeIdentityJson, signedTcbDocuments, tcbInfoJson } from './tcb-json.js';

/**
 * 2: certificates carry the five extensions Intel's QVL requires (CRL Distribution
 * Points added), 20-byte serials, UTF8String names. A version-1 platform's chain is
 * refused by Intel's QVL and by the verifier, and its keys are kept, so it is refused
 * on load rather than silently re-certified under a new root.
 */
export const PLATFORM_FORMAT_VERSION = 2;

/** platform.json */
export interface PlatformMeta {
  kind: 'kube-sgx-sim-platform';
  version: number;
  scenario: TcbScenario;
  fmspc: string;
  pceId: string;
  createdAt: string;
  /** fingerprint of the seed the platform was created from (absent: random) */
  seedFingerprint?: string;
  /** hex: PPID (16), QE ID (16), report KEYID (32) */
  ppid: string;
  qeId: string;
  reportKeyId: string;
}

export interface PlatformKeys {
  root: KeyObject;
  pckCa: KeyObject;
  pck: KeyObject;
  tcbSigning: KeyObject;
  attestation: KeyObject;
}

export interface PlatformCerts {
  root: x509.X509Certificate;
  pckCa: x509.X509Certificate;
  pck: x509.X509Certificate;
  tcbSigning: x509.X509Certificate;
}

export interface PlatformMaterial {
  meta: PlatformMeta;
  keys: PlatformKeys;
  certs: PlatformCerts;
  /** 16-byte report secret */
  reportSecret: Buffer;
}

const HOUR = 3600_000;
const DAY = 24 * HOUR;
const YEAR = 365 * DAY;
/** How long issued collateral (CRLs, TCB Info, QE Identity) is valid. */
export const COLLATERAL_VALIDITY_MS = 90 * DAY;
/** Re-issue collateral when less than this remains. */
export const COLLATERAL_REFRESH_MS = 30 * DAY;
/** Start of every validity window: a little in the past, so small clock skew between machines does not matter. */
const BACKDATE_MS = HOUR;

/** Validity of a seeded platform's certificates (fixed, so they are the same on every machine). */
const SEEDED_NOT_BEFORE = new Date('2020-01-01T00:00:00Z');
const SEEDED_NOT_AFTER = new Date('2049-12-31T23:59:59Z');

const wholeSecond = (ms: number) => new Date(Math.floor(ms / 1000) * 1000);

/** Creates keys and certificates for a new platform. */
export async function createMaterial(opts: { seed?: string; scenario: TcbScenario; now: Date }): Promise<PlatformMaterial> {
  const master = masterSecret(opts.seed);
  const keys: PlatformKeys = {
    root: deriveP256Key(master, 'root-ca'),
    pckCa: deriveP256Key(master, 'pck-processor-ca'),
    pck: deriveP256Key(master, 'pck'),
    tcbSigning: deriveP256Key(master, 'tcb-signing'),
    attestation: deriveP256Key(master, 'qe-attestation'),
  };
  const ppid = derive(master, 'ppid', 16);
  // Seeded: fixed dates and deterministic signatures, so every machine with the seed makes
  // byte-identical certificates (one root-ca.pem trusts them all). Otherwise: from now.
  const seeded = opts.seed !== undefined;
  const crypto = seeded ? DETERMINISTIC_CRYPTO : undefined;
  const notBefore = seeded ? SEEDED_NOT_BEFORE : wholeSecond(opts.now.getTime() - BACKDATE_MS);
  const until = (years: number) => (seeded ? SEEDED_NOT_AFTER : wholeSecond(notBefore.getTime() + years * YEAR));
  const root = await issueCertificate({ subject: SUBJECTS.root, serial: deriveSerial(master, 'root-ca'), crlUrl: SIM_CRL_URLS.rootCa, notBefore, notAfter: until(20), key: keys.root, ca: { pathLength: 1 }, crypto });
  const pckCa = await issueCertificate({
    subject: SUBJECTS.pckCa,
    serial: deriveSerial(master, 'pck-processor-ca'),
    crlUrl: SIM_CRL_URLS.rootCa,
    notBefore,
    notAfter: until(15),
    key: keys.pckCa,
    issuer: { cert: root, key: keys.root },
    ca: { pathLength: 0 },
    crypto,
  });
  const sgxExtension = pckExtensionValue({
    ppid,
    tcbComponents: [...SIM_PCK_TCB.components],
    pceSvn: SIM_PCK_TCB.pcesvn,
    cpuSvn: SIM_CPU_SVN,
    pceId: Buffer.from(SIM_PCE_ID, 'hex'),
    fmspc: Buffer.from(SIM_FMSPC, 'hex'),
    sgxType: SGX_TYPE.STANDARD,
  });
  const pck = await issueCertificate({ subject: SUBJECTS.pck, serial: deriveSerial(master, 'pck'), crlUrl: SIM_CRL_URLS.pckProcessor, notBefore, notAfter: until(10), key: keys.pck, issuer: { cert: pckCa, key: keys.pckCa }, sgxExtension, crypto });
  const tcbSigning = await issueCertificate({
    subject: SUBJECTS.tcbSigning,
    serial: deriveSerial(master, 'tcb-signing'),
    crlUrl: SIM_CRL_URLS.rootCa,
    notBefore,
    notAfter: until(10),
    key: keys.tcbSigning,
    issuer: { cert: root, key: keys.root },
    crypto,
  });
  const meta: PlatformMeta = {
    kind: 'kube-sgx-sim-platform',
    version: PLATFORM_FORMAT_VERSION,
    scenario: opts.scenario,
    fmspc: SIM_FMSPC,
    pceId: SIM_PCE_ID,
    createdAt: isoSeconds(opts.now),
    ...(opts.seed !== undefined ? { seedFingerprint: seedFingerprint(opts.seed) } : {}),
    ppid: ppid.toString('hex'),
    qeId: derive(master, 'qe-id', 16).toString('hex'),
    reportKeyId: derive(master, 'report-keyid', 32).toString('hex'),
  };
  return { meta, keys, certs: { root, pckCa, pck, tcbSigning }, reportSecret: derive(master, 'report-secret', 16) };
}

/** Issues the platform's collateral for `now`: CRLs (the PCK revoked in the `revoked` scenario), TCB Info, QE Identity. */
export async function generateCollateral(m: PlatformMaterial, now: Date): Promise<Collateral> {
  const issued = wholeSecond(now.getTime() - BACKDATE_MS);
  const next = wholeSecond(now.getTime() + COLLATERAL_VALIDITY_MS);
  const crlNumber = Math.floor(now.getTime() / 1000);
  const { certs, keys } = m;
  const rootCrl = await issueCrl({ issuerCert: certs.root, issuerKey: keys.root, thisUpdate: issued, nextUpdate: next, crlNumber, revoked: [] });
  const pckCrl = await issueCrl({
    issuerCert: certs.pckCa,
    issuerKey: keys.pckCa,
    thisUpdate: issued,
    nextUpdate: next,
    crlNumber,
    revoked: m.meta.scenario === 'revoked' ? [certs.pck.serialNumber] : [],
  });
  const tcbChain = certPem(certs.tcbSigning) + certPem(certs.root);
  return parseCollateral({
    pck_crl_issuer_chain: certPem(certs.pckCa) + certPem(certs.root),
    root_ca_crl: rootCrl.toString('hex'),
    pck_crl: pckCrl.toString('hex'),
    tcb_info_issuer_chain: tcbChain,
    qe_identity_issuer_chain: tcbChain,
    ...signedTcbDocuments(tcbInfoJson(m.meta.scenario, issued, next), qeIdentityJson('QE', issued, next), keys.tcbSigning),
  });
}
