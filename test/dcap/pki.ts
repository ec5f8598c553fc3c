/**
 * A test PKI shaped like Intel's (root → PCK CA → PCK leaf; root → TCB
 * signing), built with @peculiar/x509, and a forger that re-signs the real
 * SGX sample quote and its collateral under it. Lets the tests produce what
 * real data cannot: revoked PCKs, revoked CAs, Revoked/OutOfDate levels,
 * broken CA constraints.
 */
// @peculiar/x509 resolves its services through tsyringe, which needs this polyfill first.
import 'reflect-metadata';
import { createHash, KeyObject, sign, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { parseQuote, encodeQuote, pckChainCertificationData } from '../../src/sgx/index.js';
import type { Collateral } from '../../src/dcap/collateral.js';
import { parseCertificate } from '../../src/dcap/x509.js';
import { pemCertificates } from '../../src/dcap/pem.js';
import { phalaCollateral, readVector } from './helpers.js';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const SGX_EXT = '1.2.840.113741.1.13.1';
const DAY = 86_400_000;

export const NAMES = {
  root: 'CN=Test SGX Root CA, O=kube-sgx tests, C=US',
  ca: 'CN=Test SGX PCK Processor CA, O=kube-sgx tests, C=US',
  pck: 'CN=Test SGX PCK Certificate, O=kube-sgx tests, C=US',
  tcb: 'CN=Test SGX TCB Signing, O=kube-sgx tests, C=US',
};

type Keys = Record<'root' | 'ca' | 'pck' | 'tcb' | 'att', CryptoKeyPair>;

export interface ForgeOptions {
  /** the verification time the window is centred on */
  now: Date;
  revokePck?: boolean;
  revokeCa?: boolean;
  revokeTcbSigner?: boolean;
  caIsNotCa?: boolean;
  rootPathLen?: number;
  omitCrlNumber?: boolean;
  /** leave one of the five extensions Intel requires out of one certificate */
  omitExtension?: { cert: 'root' | 'ca' | 'pck' | 'tcb'; oid: string };
  /** re-encode the SGX sample as quote version 4 or 5 (default: 3, as the original) */
  quoteVersion?: 3 | 4 | 5;
  /** edits of the parsed TCB Info / QE Identity JSON before signing */
  tcbInfo?: (j: Record<string, unknown>) => void;
  qeIdentity?: (j: Record<string, unknown>) => void;
}

export interface Forged {
  quote: Buffer;
  collateral: Collateral;
  rootPem: string;
}

const der = (c: { rawData: ArrayBuffer }) => Buffer.from(c.rawData);
const pem = (c: x509.X509Certificate) => c.toString('pem') + '\n';

function crlNumber(n: number): x509.Extension {
  return new x509.Extension('2.5.29.20', false, Buffer.from([0x02, 0x01, n]));
}

async function keyId(k: CryptoKey): Promise<Buffer> {
  const spki = Buffer.from(await webcrypto.subtle.exportKey('spki', k));
  return createHash('sha1').update(spki).digest();
}

async function aki(k: CryptoKey): Promise<x509.Extension> {
  const id = await keyId(k);
  return new x509.Extension('2.5.29.35', false, Buffer.concat([Buffer.from([0x30, id.length + 2, 0x80, id.length]), id]));
}

export class TestPki {
  private constructor(private readonly keys: Keys) {}

  static async create(): Promise<TestPki> {
    const gen = () => webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']) as Promise<CryptoKeyPair>;
    const [root, ca, pck, tcb, att] = await Promise.all([gen(), gen(), gen(), gen(), gen()]);
    return new TestPki({ root, ca, pck, tcb, att });
  }

  /** Intel's five extensions (AKI, CRL DP, SKI, then `exts`: key usage and basic constraints[, SGX]), less `omit`. */
  private async cert(
    subject: string,
    issuer: string,
    key: CryptoKeyPair,
    signer: CryptoKeyPair,
    serial: string,
    validity: { notBefore: Date; notAfter: Date },
    exts: x509.Extension[],
    omit?: string,
  ): Promise<x509.X509Certificate> {
    const all = [
      await aki(signer.publicKey),
      new x509.CRLDistributionPointsExtension(['https://pcs.invalid/crl.der']),
      await x509.SubjectKeyIdentifierExtension.create(key.publicKey),
      ...exts,
    ];
    return x509.X509CertificateGenerator.create({
      serialNumber: serial,
      subject,
      issuer,
      ...validity,
      publicKey: key.publicKey,
      signingKey: signer.privateKey,
      signingAlgorithm: ALG,
      extensions: all.filter((e) => e.type !== omit),
    });
  }

  async forge(o: ForgeOptions): Promise<Forged> {
    const k = this.keys;
    const now = o.now;
    const caExt = (ca: boolean, pathLen?: number) => [
      new x509.KeyUsagesExtension(ca ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign : x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.nonRepudiation, true),
      new x509.BasicConstraintsExtension(ca, pathLen, true),
    ];
    const realCol = phalaCollateral('sample/sgx_quote_collateral.json');
    const realQuote = parseQuote(readVector('phala-dcap-qvl/sample/sgx_quote'));
    const realLeafDer = realQuote.signatureData.certificationData.type === 5 ? realQuote.signatureData.certificationData.certificates[0] : undefined;
    if (!realLeafDer) throw new Error('sample quote has no type-5 chain');
    const sgxExt = parseCertificate(realLeafDer).extensions.get(SGX_EXT);
    if (!sgxExt) throw new Error('sample PCK has no SGX extension');

    const omit = (c: 'root' | 'ca' | 'pck' | 'tcb') => (o.omitExtension?.cert === c ? o.omitExtension.oid : undefined);
    const year = { notBefore: new Date(now.getTime() - 365 * DAY), notAfter: new Date(now.getTime() + 365 * DAY) };
    const decade = { notBefore: new Date(now.getTime() - 3650 * DAY), notAfter: new Date(now.getTime() + 3650 * DAY) };
    const root = await this.cert(NAMES.root, NAMES.root, k.root, k.root, '01', decade, caExt(true, o.rootPathLen ?? 1), omit('root'));
    const ca = await this.cert(NAMES.ca, NAMES.root, k.ca, k.root, '0a', year, o.caIsNotCa ? caExt(false) : caExt(true, 0), omit('ca'));
    const pck = await this.cert(NAMES.pck, NAMES.ca, k.pck, k.ca, '0b', year, [...caExt(false), new x509.Extension(SGX_EXT, false, Buffer.from(sgxExt.value))], omit('pck'));
    const tcb = await this.cert(NAMES.tcb, NAMES.root, k.tcb, k.root, '0c', year, caExt(false), omit('tcb'));

    const crl = async (issuer: string, signer: CryptoKeyPair, serials: string[]) =>
      x509.X509CrlGenerator.create({
        issuer,
        thisUpdate: new Date(now.getTime() - DAY),
        nextUpdate: new Date(now.getTime() + 30 * DAY),
        entries: serials.map((s) => ({ serialNumber: s, revocationDate: new Date(now.getTime() - 2 * DAY) })),
        signingAlgorithm: ALG,
        signingKey: signer.privateKey,
        extensions: [...(o.omitCrlNumber ? [] : [crlNumber(1)]), await aki(signer.publicKey)],
      });
    const rootCrl = await crl(NAMES.root, k.root, [...(o.revokeCa ? ['0a'] : []), ...(o.revokeTcbSigner ? ['0c'] : []), '7f']);
    const pckCrl = await crl(NAMES.ca, k.ca, [...(o.revokePck ? ['0b'] : []), '7e']);

    // TCB Info / QE Identity: the real sample's, dated around `now`, edited, re-signed
    const iso = (d: number) => new Date(d).toISOString().replace(/\.\d+Z$/, 'Z');
    const signJson = (obj: Record<string, unknown>): [string, string] => {
      const text = JSON.stringify(obj);
      const key = KeyObject.from(k.tcb.privateKey);
      return [text, sign('sha256', Buffer.from(text), { key, dsaEncoding: 'ieee-p1363' }).toString('hex')];
    };
    const tcbInfo = JSON.parse(realCol.tcb_info) as Record<string, unknown>;
    tcbInfo.issueDate = iso(now.getTime() - DAY);
    tcbInfo.nextUpdate = iso(now.getTime() + 30 * DAY);
    o.tcbInfo?.(tcbInfo);
    const qeIdentity = JSON.parse(realCol.qe_identity) as Record<string, unknown>;
    qeIdentity.issueDate = iso(now.getTime() - DAY);
    qeIdentity.nextUpdate = iso(now.getTime() + 30 * DAY);
    o.qeIdentity?.(qeIdentity);
    const [tcbText, tcbSig] = signJson(tcbInfo);
    const [qeText, qeSig] = signJson(qeIdentity);

    // the quote: new attestation key, QE report bound to it and signed by the test PCK key
    const attJwk = await webcrypto.subtle.exportKey('jwk', k.att.publicKey);
    const attRaw = Buffer.concat([Buffer.from(attJwk.x ?? '', 'base64url'), Buffer.from(attJwk.y ?? '', 'base64url')]);
    const sd = realQuote.signatureData;
    const reportData = Buffer.alloc(64);
    createHash('sha256').update(attRaw).update(sd.qeAuthData).digest().copy(reportData);
    const bytes = encodeQuote({
      header: { ...realQuote.header, version: o.quoteVersion ?? realQuote.header.version },
      body: realQuote.body,
      signatureData: {
        ...sd,
        attestationKey: attRaw,
        qeReport: { ...sd.qeReport, reportData },
        certificationData: pckChainCertificationData([pem(pck), pem(ca), pem(root)]),
      },
    });
    const q = parseQuote(bytes);
    sign('sha256', q.signatureData.qeReportBytes, { key: KeyObject.from(k.pck.privateKey), dsaEncoding: 'ieee-p1363' }).copy(q.signatureData.qeReportSignature);
    sign('sha256', q.signedBytes, { key: KeyObject.from(k.att.privateKey), dsaEncoding: 'ieee-p1363' }).copy(q.signatureData.signature);

    return {
      quote: bytes,
      rootPem: pem(root),
      collateral: {
        pck_crl_issuer_chain: pem(ca) + pem(root),
        root_ca_crl: der(rootCrl).toString('hex'),
        pck_crl: der(pckCrl).toString('hex'),
        tcb_info_issuer_chain: pem(tcb) + pem(root),
        tcb_info: tcbText,
        tcb_info_signature: tcbSig,
        qe_identity_issuer_chain: pem(tcb) + pem(root),
        qe_identity: qeText,
        qe_identity_signature: qeSig,
      },
    };
  }
}

export { pemCertificates };
