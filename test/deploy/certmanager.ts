/**
 * A minimal schema for the cert-manager.io/v1 kinds deploy/ uses (Issuer,
 * ClusterIssuer, Certificate). No npm package carries cert-manager's CRD
 * schemas, so the field names, types, enums and required fields below are
 * taken from cert-manager's published CRDs (deploy/crds/cert-manager.io_
 * certificates.yaml and cert-manager.io_issuers.yaml, cert-manager master
 * 2d0d7f7, 2026-08), plus the rules its admission webhook adds
 * (internal/apis/certmanager/validation): one issuer type, durations in Go
 * syntax of at least one hour, renewBefore shorter than duration, a subject
 * name, ECDSA sizes 256/384/521, RSA 2048 to 8192 bits.
 */
type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);

type FieldType = 'string' | 'boolean' | 'integer' | 'object' | 'string[]' | 'object[]';

const CERTIFICATE_SPEC: Record<string, FieldType> = {
  additionalOutputFormats: 'object[]',
  commonName: 'string',
  dnsNames: 'string[]',
  duration: 'string',
  emailAddresses: 'string[]',
  encodeUsagesInRequest: 'boolean',
  ipAddresses: 'string[]',
  isCA: 'boolean',
  issuerRef: 'object',
  keystores: 'object',
  literalSubject: 'string',
  nameConstraints: 'object',
  otherNames: 'object[]',
  privateKey: 'object',
  renewBefore: 'string',
  renewBeforePercentage: 'integer',
  revisionHistoryLimit: 'integer',
  secretName: 'string',
  secretTemplate: 'object',
  signatureAlgorithm: 'string',
  subject: 'object',
  uris: 'string[]',
  usages: 'string[]',
};
const CERTIFICATE_REQUIRED = ['issuerRef', 'secretName'];
const ISSUER_REF: Record<string, FieldType> = { group: 'string', kind: 'string', name: 'string' };
const PRIVATE_KEY: Record<string, FieldType> = { algorithm: 'string', encoding: 'string', rotationPolicy: 'string', size: 'integer' };
const ENUMS: Record<string, readonly string[]> = {
  'privateKey.algorithm': ['RSA', 'ECDSA', 'Ed25519'],
  'privateKey.encoding': ['PKCS1', 'PKCS8'],
  'privateKey.rotationPolicy': ['Never', 'Always'],
  signatureAlgorithm: ['SHA256WithRSA', 'SHA384WithRSA', 'SHA512WithRSA', 'ECDSAWithSHA256', 'ECDSAWithSHA384', 'ECDSAWithSHA512', 'PureEd25519'],
  usages: ['signing', 'digital signature', 'content commitment', 'key encipherment', 'key agreement', 'data encipherment', 'cert sign', 'crl sign', 'encipher only', 'decipher only', 'any', 'server auth', 'client auth', 'code signing', 'email protection', 's/mime', 'ipsec end system', 'ipsec tunnel', 'ipsec user', 'timestamping', 'ocsp signing', 'microsoft sgc', 'netscape sgc'],
};
/** Issuer / ClusterIssuer spec: exactly one of these, each an object; `ca` requires secretName. */
const ISSUER_TYPES = ['acme', 'ca', 'selfSigned', 'vault', 'venafi'] as const;
const ISSUER_TYPE_FIELDS: Record<string, Record<string, FieldType>> = {
  ca: { crlDistributionPoints: 'string[]', issuingCertificateURLs: 'string[]', ocspServers: 'string[]', secretName: 'string' },
  selfSigned: { crlDistributionPoints: 'string[]' },
};
const METADATA_FIELDS = new Set(['name', 'namespace', 'labels', 'annotations']);

function typeOk(v: unknown, t: FieldType): boolean {
  switch (t) {
    case 'string': return typeof v === 'string';
    case 'boolean': return typeof v === 'boolean';
    case 'integer': return Number.isInteger(v);
    case 'object': return isRec(v);
    case 'string[]': return Array.isArray(v) && v.every((x) => typeof x === 'string');
    case 'object[]': return Array.isArray(v) && v.every(isRec);
  }
}

function checkFields(obj: Rec, fields: Record<string, FieldType>, path: string, out: string[]): void {
  for (const [k, v] of Object.entries(obj)) {
    const t = fields[k];
    if (t === undefined) out.push(`${path}.${k}: unknown field`);
    else if (!typeOk(v, t)) out.push(`${path}.${k}: expected ${t}`);
  }
}

/** Go time.ParseDuration, the units cert-manager accepts; undefined when malformed. */
export function goDurationSeconds(s: string): number | undefined {
  const units: Record<string, number> = { ns: 1e-9, us: 1e-6, 'µs': 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(s)) return undefined;
  let total = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * units[m[2]];
  return total;
}

function certificateProblems(spec: Rec, where: string): string[] {
  const p: string[] = [];
  checkFields(spec, CERTIFICATE_SPEC, `${where} spec`, p);
  for (const r of CERTIFICATE_REQUIRED) if (!(r in spec)) p.push(`${where} spec.${r}: required`);
  if (isRec(spec.issuerRef)) {
    checkFields(spec.issuerRef, ISSUER_REF, `${where} spec.issuerRef`, p);
    if (typeof spec.issuerRef.name !== 'string') p.push(`${where} spec.issuerRef.name: required`);
  }
  if (isRec(spec.privateKey)) {
    checkFields(spec.privateKey, PRIVATE_KEY, `${where} spec.privateKey`, p);
    const { algorithm, size } = spec.privateKey;
    if (algorithm === 'ECDSA' && size !== undefined && ![256, 384, 521].includes(Number(size))) p.push(`${where} spec.privateKey.size: ECDSA keys are 256, 384 or 521 bits`);
    if ((algorithm === undefined || algorithm === 'RSA') && size !== undefined && (Number(size) < 2048 || Number(size) > 8192)) p.push(`${where} spec.privateKey.size: RSA keys are 2048 to 8192 bits`);
  }
  for (const [path, allowed] of Object.entries(ENUMS)) {
    const [a, b] = path.split('.');
    const v = b === undefined ? spec[a] : isRec(spec[a]) ? (spec[a] as Rec)[b] : undefined;
    for (const x of Array.isArray(v) ? v : v === undefined ? [] : [v]) if (!allowed.includes(String(x))) p.push(`${where} spec.${path}: ${JSON.stringify(x)} is not one of ${allowed.join(', ')}`);
  }
  const names = ['commonName', 'dnsNames', 'uris', 'emailAddresses', 'ipAddresses', 'literalSubject', 'otherNames'].filter((k) => k in spec);
  if (names.length === 0) p.push(`${where} spec: at least one of commonName, dnsNames, uris, emailAddresses, ipAddresses, otherNames or literalSubject`);
  if (typeof spec.commonName === 'string' && spec.commonName.length > 64) p.push(`${where} spec.commonName: longer than 64 characters`);
  const duration = typeof spec.duration === 'string' ? goDurationSeconds(spec.duration) : undefined;
  const renew = typeof spec.renewBefore === 'string' ? goDurationSeconds(spec.renewBefore) : undefined;
  if (typeof spec.duration === 'string' && duration === undefined) p.push(`${where} spec.duration: ${spec.duration} is not a Go duration`);
  if (typeof spec.renewBefore === 'string' && renew === undefined) p.push(`${where} spec.renewBefore: ${spec.renewBefore} is not a Go duration`);
  if (duration !== undefined && duration < 3600) p.push(`${where} spec.duration: less than 1h`);
  if ('renewBefore' in spec && 'renewBeforePercentage' in spec) p.push(`${where} spec.renewBefore: excludes renewBeforePercentage`);
  if (renew !== undefined && renew < 300) p.push(`${where} spec.renewBefore: less than 5m`);
  if (renew !== undefined && renew >= (duration ?? 90 * 24 * 3600)) p.push(`${where} spec.renewBefore: not shorter than the duration`);
  return p;
}

function issuerProblems(spec: Rec, where: string): string[] {
  const p: string[] = [];
  const types = ISSUER_TYPES.filter((t) => t in spec);
  for (const k of Object.keys(spec)) if (!(ISSUER_TYPES as readonly string[]).includes(k)) p.push(`${where} spec.${k}: unknown field`);
  if (types.length !== 1) p.push(`${where} spec: exactly one of ${ISSUER_TYPES.join(', ')} (got ${types.join(', ') || 'none'})`);
  for (const t of types) {
    const v = spec[t];
    if (!isRec(v)) {
      p.push(`${where} spec.${t}: expected object`);
      continue;
    }
    if (ISSUER_TYPE_FIELDS[t]) checkFields(v, ISSUER_TYPE_FIELDS[t], `${where} spec.${t}`, p);
    if (t === 'ca' && typeof v.secretName !== 'string') p.push(`${where} spec.ca.secretName: required`);
  }
  return p;
}

export function certManagerProblems(o: { apiVersion: string; kind: string; metadata: Rec; [k: string]: unknown }): string[] {
  const where = `${o.kind}/${String(o.metadata.namespace ?? '')}/${String(o.metadata.name)}`;
  const p: string[] = [];
  if (o.apiVersion !== 'cert-manager.io/v1') p.push(`${where}: apiVersion ${o.apiVersion} is not cert-manager.io/v1`);
  for (const k of Object.keys(o)) if (!['apiVersion', 'kind', 'metadata', 'spec'].includes(k)) p.push(`${where}: unknown top-level field ${k}`);
  for (const k of Object.keys(o.metadata)) if (!METADATA_FIELDS.has(k)) p.push(`${where} metadata.${k}: not expected in a manifest`);
  if (typeof o.metadata.name !== 'string' || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(o.metadata.name)) p.push(`${where} metadata.name: not a DNS subdomain`);
  if (o.kind === 'ClusterIssuer' && o.metadata.namespace !== undefined) p.push(`${where}: ClusterIssuer is cluster-scoped`);
  const spec = o.spec;
  if (!isRec(spec)) return [...p, `${where} spec: required`];
  if (o.kind === 'Certificate') p.push(...certificateProblems(spec, where));
  else if (o.kind === 'Issuer' || o.kind === 'ClusterIssuer') p.push(...issuerProblems(spec, where));
  else p.push(`${where}: kind ${o.kind} is not checked here`);
  return p;
}
