/**
 * A QGS client, as libtdx_attest and QEMU talk to a QGS: one connection per
 * request, u32 big-endian length + message out, the same back. Used by the
 * tests, the benchmark, and anything in a simulated TD that needs a quote.
 */
import { createConnection, type Socket } from 'node:net';
import { KubeSgxError, type ErrorCode } from '../errors.js';
import {
  DEFAULT_QGS_SOCKET,
  QGS_LENGTH_PREFIX_SIZE,
  QGS_TIMEOUT_MS,
  encodeGetCollateralRequest,
  encodeGetPlatformInfoRequest,
  encodeGetQuoteRequest,
  frameQgsMessage,
  parseCollateralResponse,
  parsePlatformInfoResponse,
  parseQuoteResponse,
  QgsResponseError,
  type QgsCollateral,
  type QgsPlatformInfo,
} from './protocol.js';

export interface QgsClientOptions {
  socketPath?: string;
  /** Per-request deadline. Default 30 s (QEMU's TRANSACTION_TIMEOUT). */
  timeoutMs?: number;
  /** Largest response accepted. Default 1 MiB. */
  maxResponseBytes?: number;
  /** Connect another way (vsock bridges, tests): returns a connected socket. */
  connect?: () => Socket;
}

function clientError(code: ErrorCode, message: string, details?: Record<string, unknown>): KubeSgxError {
  return new KubeSgxError(code, message, details ? { details } : {});
}

export class QgsClient {
  readonly socketPath: string;
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;

  constructor(private readonly opts: QgsClientOptions = {}) {
    this.socketPath = opts.socketPath ?? DEFAULT_QGS_SOCKET;
    this.timeoutMs = opts.timeoutMs ?? QGS_TIMEOUT_MS;
    this.maxResponseBytes = opts.maxResponseBytes ?? 1024 * 1024;
  }

  /** Sends `payload` as is and reads until the server closes (raw mode) or one framed reply is complete. */
  exchange(payload: Buffer, framed: boolean): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const s = this.opts.connect ? this.opts.connect() : createConnection(this.socketPath);
      const chunks: Buffer[] = [];
      let received = 0;
      let settled = false;
      const finish = (err: Error | undefined, value?: Buffer) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        s.destroy();
        if (err) reject(err);
        else resolve(value!);
      };
      const timer = setTimeout(() => finish(clientError('QGS_TIMEOUT', `no reply from the QGS within ${this.timeoutMs} ms`)), this.timeoutMs);
      s.on('error', (e) => finish(clientError('QGS_UNAVAILABLE', `QGS at ${this.socketPath}: ${e.message}`)));
      s.on('data', (c: Buffer) => {
        chunks.push(c);
        received += c.length;
        if (received > this.maxResponseBytes + QGS_LENGTH_PREFIX_SIZE) return finish(clientError('QGS_BAD_RESPONSE', `response exceeds ${this.maxResponseBytes} bytes`));
        if (!framed || received < QGS_LENGTH_PREFIX_SIZE) return;
        const all = Buffer.concat(chunks);
        const length = all.readUInt32BE(0);
        if (length > this.maxResponseBytes) return finish(clientError('QGS_BAD_RESPONSE', `response length ${length} exceeds ${this.maxResponseBytes}`));
        if (all.length >= QGS_LENGTH_PREFIX_SIZE + length) finish(undefined, all.subarray(QGS_LENGTH_PREFIX_SIZE, QGS_LENGTH_PREFIX_SIZE + length));
      });
      s.on('end', () => {
        const all = Buffer.concat(chunks);
        if (!framed) return all.length > 0 ? finish(undefined, all) : finish(clientError('QGS_REFUSED', 'the QGS closed the connection without a quote (raw mode has no error reply)'));
        finish(clientError('QGS_BAD_RESPONSE', `connection closed after ${all.length} bytes of the reply`));
      });
      s.write(payload);
    });
  }

  private async call<T>(msg: Buffer, parse: (m: Buffer) => T): Promise<T> {
    const reply = await this.exchange(frameQgsMessage(msg), true);
    try {
      return parse(reply);
    } catch (e) {
      if (e instanceof QgsResponseError) throw clientError(e.code, e.message, e.qgsError !== undefined ? { qgsError: e.qgsError } : undefined);
      throw e;
    }
  }

  /** GET_QUOTE_REQ with a 1,024-byte TDREPORT → the quote. */
  async getQuote(tdReport: Buffer, idList?: Buffer): Promise<Buffer> {
    return (await this.call(encodeGetQuoteRequest(tdReport, idList), parseQuoteResponse)).quote;
  }

  /** Raw mode: the bare TDREPORT → the bare quote. */
  getQuoteRaw(tdReport: Buffer): Promise<Buffer> {
    return this.exchange(tdReport, false);
  }

  getCollateral(fmspc: Buffer, pckCa: string): Promise<QgsCollateral> {
    return this.call(encodeGetCollateralRequest(fmspc, Buffer.from(pckCa + '\0', 'latin1')), (m) => parseCollateralResponse(m));
  }

  getPlatformInfo(): Promise<QgsPlatformInfo> {
    return this.call(encodeGetPlatformInfoRequest(), parsePlatformInfoResponse);
  }
}
