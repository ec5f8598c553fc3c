/**
 * Test double for the protocol tests: a QuoteBackend with a fake "MAC"
 * (report bytes 416..431 = SHA-256(body)[0..16]) and quote-shaped output.
 * The end-to-end tests use the real simulator instead (sim.test.ts).
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { backendError } from '../../src/quotehelper/aesm-errors.js';
import type { BackendQuote, QeReportRequest, QuoteBackend } from '../../src/quotehelper/backend.js';

export const FAKE_QUOTE_SIZE = 1200;

export function fakeReport(seed = 1): Buffer {
  const r = Buffer.alloc(432);
  r.fill(seed & 0xff, 0, 384);
  createHash('sha256').update(r.subarray(0, 384)).digest().copy(r, 416, 0, 16);
  return r;
}

export class FakeBackend implements QuoteBackend {
  readonly name = 'fake';
  readonly simulated = true;
  delayMs = 0;
  calls = 0;
  /** When set, getQuote waits for it (after counting the call): holds requests in flight. */
  hold: Promise<void> | undefined;
  /** Called with the running call count as each getQuote starts. */
  onCall: ((calls: number) => void) | undefined;

  targetInfo(): Promise<Buffer> {
    return Promise.resolve(Buffer.alloc(512, 0x7e));
  }
  pubKeyId(): Promise<Buffer | undefined> {
    return Promise.resolve(Buffer.alloc(32, 0x33));
  }
  quoteSize(): Promise<number> {
    return Promise.resolve(FAKE_QUOTE_SIZE);
  }
  async getQuote(report: Buffer, qe?: QeReportRequest): Promise<BackendQuote> {
    this.calls++;
    this.onCall?.(this.calls);
    if (this.hold) await this.hold;
    if (this.delayMs > 0) await sleep(this.delayMs);
    const mac = createHash('sha256').update(report.subarray(0, 384)).digest().subarray(0, 16);
    if (!mac.equals(report.subarray(416, 432))) throw backendError('QUOTE_INVALID_REPORT', 'bad fake MAC', 47);
    // v3 SGX quote shape: header 48, body 384, sig len, sig.
    const sigLen = 100;
    const quote = Buffer.alloc(48 + 384 + 4 + sigLen, 0xab);
    quote.writeUInt16LE(3, 0);
    quote.writeUInt32LE(0, 4);
    report.copy(quote, 48, 0, 384);
    quote.writeUInt32LE(sigLen, 432);
    const out: BackendQuote = { quote };
    if (qe) {
      const qeReport = Buffer.alloc(432);
      createHash('sha256').update(qe.nonce).update(quote).digest().copy(qeReport, 320);
      qe.appTargetInfo.copy(qeReport, 0, 0, 32);
      out.qeReport = qeReport;
    }
    return out;
  }
  describe(): Record<string, unknown> {
    return { backend: this.name };
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}
