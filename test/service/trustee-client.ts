/**
 * A KBS client written from Trustee's protocol document
 * (trustee kbs/docs/kbs_attestation_protocol.md) and its client code
 * (guest-components attestation-agent/kbs_protocol rcar_client.rs,
 * keypair.rs; kbs-types lib.rs) — deliberately not from kube-sgx's server:
 * it shares no code with src/service. What it copies from the Rust client:
 * - Request `{"version":"0.4.0","tee",extra-params: {"supported-hash-algorithms"}}`;
 *   the hash is the Challenge's `extra-params.selected-hash-algorithm`, else sha384.
 * - REPORTDATA = hash(JCS({"tee-pubkey","nonce","additional-evidence"})), the
 *   TEE attester zero-pads it to 64 bytes.
 * - The session cookie (`kbs-session-id`) is kept like reqwest's cookie store
 *   and sent on /attest and resource requests.
 * - The JWE AAD is recomputed from the *parsed* protected header, re-serialised
 *   as kbs-types does (`alg`, `enc`, then the other members in serde_json's
 *   default BTreeMap order, nested objects sorted too).
 * - On 401 from a resource request the handshake is run again (up to 3 tries).
 */
import { createDecipheriv, createECDH, createHash, generateKeyPairSync, privateDecrypt, constants, type ECDH, type KeyObject } from 'node:crypto';
import { request } from 'node:http';

export interface HttpReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json: Record<string, unknown>;
}

export function http(method: string, url: string, body?: string, headers: Record<string, string> = {}): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const h: Record<string, string> = { ...headers };
    if (body !== undefined) {
      h['content-type'] ??= 'application/json';
      h['content-length'] = String(Buffer.byteLength(body));
    }
    const r = request(url, { method, headers: h }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: Record<string, unknown> = {};
        try {
          json = JSON.parse(text) as Record<string, unknown>;
        } catch {
          /* not JSON */
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, json });
      });
    });
    r.on('error', reject);
    r.end(body);
  });
}

/** RFC 8785 for the JSON values used here (serde_json_canonicalizer's output for them). */
export function jcs(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(jcs).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${jcs(o[k])}`).join(',')}}`;
}

/** serde_json::to_string of a Value whose maps are BTreeMaps: keys sorted at every level, no spaces. */
function serdeSorted(v: unknown): string {
  return jcs(v);
}

export type TeeKeyKind = 'P-256' | 'P-521' | 'RSA';

/** The ephemeral TEE key pair (kbs_protocol keypair.rs: EC P-256 by default, P-521, or RSA-OAEP-256). */
export class TeeKey {
  private readonly ecdh?: ECDH;
  private readonly rsa?: KeyObject;
  readonly pubkey: Record<string, string>;

  constructor(readonly kind: TeeKeyKind) {
    if (kind === 'RSA') {
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      this.rsa = privateKey;
      const jwk = publicKey.export({ format: 'jwk' });
      // kbs-types TeePubKey::RSA, serde tag first: {"kty","alg","n","e"}
      this.pubkey = { kty: 'RSA', alg: 'RSA-OAEP-256', n: jwk.n!, e: jwk.e! };
    } else {
      this.ecdh = createECDH(kind === 'P-256' ? 'prime256v1' : 'secp521r1');
      const point = this.ecdh.generateKeys();
      const n = (point.length - 1) / 2;
      this.pubkey = { kty: 'EC', crv: kind, alg: 'ECDH-ES+A256KW', x: point.subarray(1, 1 + n).toString('base64url'), y: point.subarray(1 + n).toString('base64url') };
    }
  }

  /** keypair.rs decrypt_response: unwrap the CEK per `alg`, then A256GCM with the recomputed AAD. */
  decrypt(response: Record<string, unknown>): Buffer {
    const get = (k: string) => {
      const v = response[k];
      if (typeof v !== 'string') throw new Error(`Response.${k} missing`);
      return Buffer.from(v, 'base64url');
    };
    const parsed = JSON.parse(get('protected').toString('utf8')) as Record<string, unknown>;
    const { alg, enc, ...other } = parsed;
    if (enc !== 'A256GCM') throw new Error(`enc ${String(enc)}`);
    const aadHeader = `{"alg":${JSON.stringify(alg)},"enc":${JSON.stringify(enc)}${Object.keys(other).length ? `,${serdeSorted(other).slice(1)}` : '}'}`;
    const aad = Buffer.from(Buffer.from(aadHeader).toString('base64url'), 'ascii');
    let cek: Buffer;
    if (alg === 'RSA-OAEP-256') {
      if (!this.rsa) throw new Error('Unmatched key. Must be RSA key');
      cek = privateDecrypt({ key: this.rsa, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, get('encrypted_key'));
    } else if (alg === 'ECDH-ES+A256KW') {
      if (!this.ecdh) throw new Error('Unmatched key. Must be EC key');
      const epk = other.epk as { crv: string; x: string; y: string };
      if (epk.crv !== this.kind) throw new Error(`Unmatched curve: ${epk.crv}`);
      const z = this.ecdh.computeSecret(Buffer.concat([Buffer.from([4]), Buffer.from(epk.x, 'base64url'), Buffer.from(epk.y, 'base64url')]));
      // NIST SP 800-56A Concat KDF as in Trustee's jwe/mod.rs: SHA-256(counter ‖ Z ‖ len(alg) ‖ alg ‖ 0 ‖ 0 ‖ 256).
      const be32 = (n: number) => Buffer.from([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
      const algBytes = Buffer.from('ECDH-ES+A256KW');
      const kek = createHash('sha256').update(Buffer.concat([be32(1), z, be32(algBytes.length), algBytes, be32(0), be32(0), be32(256)])).digest();
      const kw = createDecipheriv('id-aes256-wrap', kek, Buffer.from('A6A6A6A6A6A6A6A6', 'hex'));
      cek = Buffer.concat([kw.update(get('encrypted_key')), kw.final()]);
    } else {
      throw new Error(`alg ${String(alg)}`);
    }
    const gcm = createDecipheriv('aes-256-gcm', cek, get('iv'));
    gcm.setAAD(aad);
    gcm.setAuthTag(get('tag'));
    return Buffer.concat([gcm.update(get('ciphertext')), gcm.final()]);
  }
}

export interface KbsClientOptions {
  url: string;
  tee: 'sgx' | 'tdx';
  /** Produces the primary evidence (`{"quote": base64}` …) whose report data is `reportData` (64 bytes). */
  evidence: (reportData: Buffer) => Promise<Record<string, unknown>>;
  key?: TeeKeyKind;
  initData?: string;
}

/** A stand-in for guest-components' KbsClient (RCAR client + cookie store). */
export class TrusteeKbsClient {
  readonly key: TeeKey;
  cookie: { value: string; expires: string } | undefined;
  token: string | undefined;
  handshakes = 0;

  constructor(private readonly opts: KbsClientOptions) {
    this.key = new TeeKey(opts.key ?? 'P-256');
  }

  private remember(res: HttpReply): void {
    for (const h of ([] as string[]).concat(res.headers['set-cookie'] ?? [])) {
      const m = /^kbs-session-id=([^;]*)(?:;.*?Expires=([^;]+))?/.exec(h);
      if (m) this.cookie = { value: m[1]!, expires: m[2] ?? '' };
    }
  }

  private cookieHeader(): Record<string, string> {
    return this.cookie ? { cookie: `kbs-session-id=${this.cookie.value}` } : {};
  }

  async rcarHandshake(): Promise<void> {
    this.handshakes++;
    const auth = await http('POST', `${this.opts.url}/kbs/v0/auth`, JSON.stringify({ version: '0.4.0', tee: this.opts.tee, 'extra-params': { 'supported-hash-algorithms': ['sha256', 'sha384', 'sha512', 'sm3'] } }));
    if (auth.status !== 200) throw Object.assign(new Error(`KBS request unauthorized: ${auth.body}`), { reply: auth });
    this.remember(auth);
    const challenge = auth.json as { nonce: string; 'extra-params': unknown };
    const ep = challenge['extra-params'];
    const selected = typeof ep === 'object' && ep !== null ? (ep as Record<string, unknown>)['selected-hash-algorithm'] : undefined;
    const hash = typeof selected === 'string' ? selected.toLowerCase() : 'sha384';
    const runtimeData = { nonce: challenge.nonce, 'tee-pubkey': this.key.pubkey };
    const additionalEvidence = '';
    const digest = createHash(hash).update(jcs({ 'tee-pubkey': runtimeData['tee-pubkey'], nonce: runtimeData.nonce, 'additional-evidence': additionalEvidence })).digest();
    const reportData = Buffer.alloc(64);
    digest.copy(reportData);
    const attestation = {
      'init-data': this.opts.initData !== undefined ? { format: 'toml', body: this.opts.initData } : null,
      'runtime-data': runtimeData,
      'tee-evidence': { primary_evidence: await this.opts.evidence(reportData), additional_evidence: additionalEvidence },
    };
    const res = await http('POST', `${this.opts.url}/kbs/v0/attest`, JSON.stringify(attestation), { ...this.cookieHeader() });
    if (res.status !== 200) throw Object.assign(new Error(`KBS attest failed: ${res.status} ${res.body}`), { reply: res });
    this.remember(res);
    this.token = res.json.token as string;
  }

  /** get_resource: by cookie; on 401 re-run the handshake and retry (KBS_GET_RESOURCE_MAX_ATTEMPT = 3). */
  async getResource(path: string): Promise<Buffer> {
    let last: HttpReply | undefined;
    for (let attempt = 1; attempt <= 3; attempt++) {
      const res = await http('GET', `${this.opts.url}/kbs/v0/resource/${path}`, undefined, this.cookieHeader());
      if (res.status === 200) return this.key.decrypt(res.json);
      last = res;
      if (res.status !== 401) break;
      await this.rcarHandshake();
    }
    throw Object.assign(new Error(`resource ${path}: ${last?.status} ${last?.body}`), { reply: last });
  }
}
