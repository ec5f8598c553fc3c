/**
 * A client for the aesmd socket protocol (this helper, or a real aesmd): one
 * connection per call, as Intel's libsgx_quote_ex does it. Used by tests, the
 * demo, the CLI and enclave apps written in Node.
 */
import { createConnection } from 'node:net';
import { KubeSgxError } from '../errors.js';
import { AesmError, aesmErrorName } from './aesm-errors.js';
import { PUB_KEY_ID_SIZE, QE_REPORT_INFO_QE_REPORT_OFFSET, QE_REPORT_INFO_SIZE, REPORT_SIZE } from './backend.js';
import { FrameAccumulator, frame } from './framing.js';
import { ATT_KEY_ID_SIZE, INTEL_ECDSA_ATT_KEY_ID, encodeAttKeyIdList } from './keyid.js';
import { type AesmRequest, type AesmResponse, type ErrorOnly, decodeResponse, encodeRequest } from './schema.js';
import { AESMD_SOCKET_PATH } from '../names.js';

export interface AesmClientOptions {
  /** Default /var/run/aesmd/aesm.socket. */
  socketPath?: string;
  /** Per-call deadline in ms, also sent as the request's `timeout`. Default 15000 (Intel's IPC_LATENCY). */
  timeoutMs?: number;
  /** Largest reply accepted. Default 1 MiB. */
  maxReplyBytes?: number;
}

export interface InitQuoteExResult {
  /** The QE's TARGETINFO (512 bytes): EREPORT the app report against it. */
  targetInfo: Buffer;
  pubKeyIdSize: number;
  pubKeyId?: Buffer;
}

export interface GetQuoteExOptions {
  keyId?: Buffer;
  /** 16-byte nonce + the app's 512-byte TARGETINFO; the helper returns a QE report targeted at the app. */
  qeReportInfo?: { nonce: Buffer; appTargetInfo: Buffer };
  /** Bytes to ask for; default: GetQuoteSizeEx's answer. */
  bufSize?: number;
}

export interface GetQuoteExResult {
  /** The quote trimmed to its real length (the reply is zero-padded to buf_size). */
  quote: Buffer;
  /** The reply as sent, padding included. */
  raw: Buffer;
  /** The QE REPORT (432) from qe_report_info, when asked for. */
  qeReport?: Buffer;
}

export class AesmClient {
  readonly socketPath: string;
  private readonly timeoutMs: number;
  private readonly maxReplyBytes: number;

  constructor(opts: AesmClientOptions = {}) {
    this.socketPath = opts.socketPath ?? AESMD_SOCKET_PATH;
    this.timeoutMs = opts.timeoutMs ?? 15000;
    this.maxReplyBytes = opts.maxReplyBytes ?? 1024 * 1024;
  }

  /** Sends one framed Request on a fresh connection and returns the decoded Response. */
  request(req: AesmRequest): Promise<AesmResponse> {
    return this.roundTrip(encodeRequest(req)).then(decodeResponse);
  }

  /** Sends raw bytes (already framed or not — the caller decides) and returns the raw reply payload. */
  roundTripRaw(bytes: Buffer): Promise<Buffer> {
    return this.exchange(bytes);
  }

  private roundTrip(payload: Buffer): Promise<Buffer> {
    return this.exchange(frame(payload));
  }

  private exchange(bytes: Buffer): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      const sock = createConnection(this.socketPath);
      const acc = new FrameAccumulator(this.maxReplyBytes);
      let settled = false;
      const finish = (err: KubeSgxError | undefined, payload?: Buffer) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        sock.destroy();
        if (err) reject(err);
        else resolve(payload as Buffer);
      };
      const timer = setTimeout(
        () => finish(new KubeSgxError('AESM_CLIENT_TIMEOUT', `no reply from ${this.socketPath} within ${this.timeoutMs} ms`, { details: { socket: this.socketPath } })),
        this.timeoutMs,
      );
      sock.once('connect', () => sock.write(bytes));
      sock.on('error', (e: NodeJS.ErrnoException) => {
        const code = e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? 'AESM_CLIENT_UNAVAILABLE' : 'AESM_CLIENT_IO';
        finish(new KubeSgxError(code, `cannot talk to ${this.socketPath}: ${e.message}`, { cause: e, details: { socket: this.socketPath } }));
      });
      sock.on('data', (chunk: Buffer) => {
        const st = acc.push(chunk);
        if (st.kind === 'complete') finish(undefined, Buffer.from(st.payload));
        else if (st.kind === 'oversized') finish(new KubeSgxError('AESM_CLIENT_BAD_REPLY', `reply of ${st.length} bytes exceeds ${this.maxReplyBytes}`));
        else if (st.kind === 'empty') finish(new KubeSgxError('AESM_CLIENT_BAD_REPLY', 'zero-length reply'));
      });
      sock.on('close', () => {
        if (!settled) finish(new KubeSgxError('AESM_CLIENT_CLOSED', `${this.socketPath} closed the connection without a reply`));
      });
    });
  }

  private async call<K extends keyof AesmResponse>(req: AesmRequest, field: K): Promise<NonNullable<AesmResponse[K]>> {
    const res = await this.request(req);
    const inner = res[field];
    if (inner === undefined || inner === null) {
      throw new KubeSgxError('AESM_CLIENT_BAD_REPLY', `reply lacks ${String(field)}`, { details: { fields: Object.keys(res) } });
    }
    const code = (inner as ErrorOnly).errorCode;
    if (code !== AesmError.SUCCESS) {
      throw new KubeSgxError(aesmErrorName(code), `aesm ${String(field)} failed: ${aesmErrorName(code)} (${code})`, { details: { aesmError: code } });
    }
    return inner as NonNullable<AesmResponse[K]>;
  }

  async getSupportedAttKeyIdNum(): Promise<number> {
    const r = await this.call({ getSupportedAttKeyIDNumReq: { timeout: this.timeoutMs } }, 'getSupportedAttKeyIDNumRes');
    return r.att_key_id_num ?? 0;
  }

  async getSupportedAttKeyIds(): Promise<Buffer[]> {
    const n = await this.getSupportedAttKeyIdNum();
    const r = await this.call({ getSupportedAttKeyIDsReq: { buf_size: n * ATT_KEY_ID_SIZE, timeout: this.timeoutMs } }, 'getSupportedAttKeyIDsRes');
    const all = r.att_key_ids ?? Buffer.alloc(0);
    const ids: Buffer[] = [];
    for (let off = 0; off + ATT_KEY_ID_SIZE <= all.length; off += ATT_KEY_ID_SIZE) ids.push(all.subarray(off, off + ATT_KEY_ID_SIZE));
    return ids;
  }

  /** SelectAttKeyID over a list of candidate IDs (absent = any). */
  async selectAttKeyId(candidates?: readonly Buffer[]): Promise<Buffer> {
    const req = candidates === undefined ? {} : { att_key_id_list: encodeAttKeyIdList(candidates) };
    const r = await this.call({ selectAttKeyIDReq: { ...req, timeout: this.timeoutMs } }, 'selectAttKeyIDRes');
    if (!r.selected_att_key_id) throw new KubeSgxError('AESM_CLIENT_BAD_REPLY', 'SelectAttKeyID reply lacks selected_att_key_id');
    return r.selected_att_key_id;
  }

  /** InitQuoteEx: the QE's target info, and its pub key ID when asked for (as Intel's client's second call). */
  async initQuoteEx(keyId: Buffer = INTEL_ECDSA_ATT_KEY_ID, opts: { pubKeyId?: boolean } = {}): Promise<InitQuoteExResult> {
    const wantPub = opts.pubKeyId ?? false;
    const r = await this.call(
      { initQuoteExReq: { att_key_id: keyId, b_pub_key_id: wantPub, ...(wantPub ? { buf_size: PUB_KEY_ID_SIZE } : {}), timeout: this.timeoutMs } },
      'initQuoteExRes',
    );
    if (!r.target_info) throw new KubeSgxError('AESM_CLIENT_BAD_REPLY', 'InitQuoteEx reply lacks target_info');
    return { targetInfo: r.target_info, pubKeyIdSize: r.pub_key_id_size ?? 0, ...(r.pub_key_id ? { pubKeyId: r.pub_key_id } : {}) };
  }

  /** Convenience: the QE's 512-byte TARGETINFO. */
  async targetInfo(keyId?: Buffer): Promise<Buffer> {
    return (await this.initQuoteEx(keyId)).targetInfo;
  }

  async getQuoteSizeEx(keyId: Buffer = INTEL_ECDSA_ATT_KEY_ID): Promise<number> {
    const r = await this.call({ getQuoteSizeExReq: { att_key_id: keyId, timeout: this.timeoutMs } }, 'getQuoteSizeExRes');
    return r.quote_size ?? 0;
  }

  async getQuoteEx(report: Buffer, opts: GetQuoteExOptions = {}): Promise<GetQuoteExResult> {
    if (report.length !== REPORT_SIZE) {
      throw new KubeSgxError('AESM_CLIENT_BAD_REPORT', `report is ${report.length} bytes, expected ${REPORT_SIZE}`, { path: ['report'] });
    }
    const keyId = opts.keyId ?? INTEL_ECDSA_ATT_KEY_ID;
    const bufSize = opts.bufSize ?? (await this.getQuoteSizeEx(keyId));
    let qri: Buffer | undefined;
    if (opts.qeReportInfo) {
      const { nonce, appTargetInfo } = opts.qeReportInfo;
      if (nonce.length !== 16 || appTargetInfo.length !== 512) {
        throw new KubeSgxError('AESM_CLIENT_BAD_QE_REPORT_INFO', 'qeReportInfo needs a 16-byte nonce and a 512-byte target info', { path: ['qeReportInfo'] });
      }
      qri = Buffer.alloc(QE_REPORT_INFO_SIZE);
      nonce.copy(qri, 0);
      appTargetInfo.copy(qri, 16);
    }
    const r = await this.call(
      { getQuoteExReq: { report, att_key_id: keyId, buf_size: bufSize, ...(qri ? { qe_report_info: qri } : {}), timeout: this.timeoutMs } },
      'getQuoteExRes',
    );
    if (!r.quote) throw new KubeSgxError('AESM_CLIENT_BAD_REPLY', 'GetQuoteEx reply lacks quote');
    const out: GetQuoteExResult = { quote: r.quote.subarray(0, quoteLength(r.quote)), raw: r.quote };
    if (qri) {
      if (r.qe_report_info?.length !== QE_REPORT_INFO_SIZE) throw new KubeSgxError('AESM_CLIENT_BAD_REPLY', 'GetQuoteEx reply lacks qe_report_info');
      out.qeReport = r.qe_report_info.subarray(QE_REPORT_INFO_QE_REPORT_OFFSET, QE_REPORT_INFO_QE_REPORT_OFFSET + REPORT_SIZE);
    }
    return out;
  }

  /** Size, then quote, with Intel's ECDSA key ID: what `sgx_qe_get_quote` does out of process. */
  async getQuote(report: Buffer): Promise<Buffer> {
    return (await this.getQuoteEx(report)).quote;
  }
}

/**
 * The real length of a zero-padded DCAP quote: header 48 + body (SGX 384,
 * TDX 1.0 584; v5 carries its body size) + u32 signature length + signature
 * (Gramine computes it the same way because aesmd pads).
 */
export function quoteLength(buf: Buffer): number {
  if (buf.length < 48) return buf.length;
  const version = buf.readUInt16LE(0);
  let sigLenOffset: number;
  if (version === 3 || version === 4) {
    const teeType = buf.readUInt32LE(4);
    sigLenOffset = 48 + (teeType === 0x81 ? 584 : 384);
  } else if (version === 5) {
    if (buf.length < 54) return buf.length;
    sigLenOffset = 48 + 6 + buf.readUInt32LE(50);
  } else {
    return buf.length;
  }
  if (buf.length < sigLenOffset + 4) return buf.length;
  const total = sigLenOffset + 4 + buf.readUInt32LE(sigLenOffset);
  return total <= buf.length ? total : buf.length;
}
