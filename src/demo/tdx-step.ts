/**
 * Demo step 7: a simulated trust domain on the same simulated platform gets
 * its TDREPORT (as from TDG.MR.REPORT; the simulator's `td-report`), asks the
 * node's QGS for a quote over its unix socket (Intel's QGS protocol, framed
 * GET_QUOTE_REQ), attests at MAA's /attest/TdxVm, and receives a secret by
 * Trustee's KBS flow with tee "tdx". Another TD (other MRTD) gets nothing.
 */
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { KubeSgxError } from '../errors.js';
import { QgsClient } from '../qgs/client.js';
import { startQgs } from '../qgs/service.js';
import { SimQgsBackend } from '../qgs/sim-backend.js';
import { requestSecret } from '../service/index.js';
import { DEMO_ADMIN_TOKEN, need, verifyToken, type DemoContext } from './steps.js';
import { expect, type DemoStep } from './runner.js';

/** The TD's measurement (MRTD) and its workload's RTMR2, as a TD launcher would set them. */
const TD_MRTD = createHash('sha384').update('kube-sgx demo trust domain').digest();
const TD_RTMR2 = createHash('sha384').update('kube-sgx demo workload').digest();

export const tdxStep: DemoStep<DemoContext> = {
  id: 'tdx',
  title: 'A trust domain quotes through the QGS, attests at /attest/TdxVm and receives a secret',
  async run(ctx) {
    const platform = need(ctx.platform, 'simulated platform');
    const service = need(ctx.service, 'attestation service');
    const qgs = await startQgs({ backend: SimQgsBackend.of(platform), socketPath: join(ctx.tempDir, 'tdx-qgs', 'qgs.socket'), logger: ctx.logger });
    ctx.cleanups.add('QGS', () => qgs.stop());
    const client = new QgsClient({ socketPath: qgs.socketPath, timeoutMs: 10_000 });
    let quotes = 0;
    const tdQuote = async (reportData: Uint8Array, mrTd: Buffer = TD_MRTD) => {
      quotes++;
      return client.getQuote(platform.tdReport({ reportData, mrTd, rtmr: [undefined, undefined, TD_RTMR2] }));
    };

    // MAA's binding: SHA-256 of the runtime data in the first 32 bytes of REPORTDATA.
    const runtime = Buffer.from(JSON.stringify({ 'td-key': randomBytes(16).toString('base64url') }));
    const reportData = Buffer.alloc(64);
    createHash('sha256').update(runtime).digest().copy(reportData);
    const quote = await tdQuote(reportData);
    const res = await fetch(`${service.url}/attest/TdxVm?api-version=2025-06-01`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ quote: quote.toString('base64url'), runtimeData: { data: runtime.toString('base64url'), dataType: 'JSON' } }),
    });
    const body = (await res.json()) as { token?: string; detail?: string; code?: string };
    expect(res.status === 200 && typeof body.token === 'string', 'DEMO_TDX_ATTEST_FAILED', `POST /attest/TdxVm answered ${res.status}: ${body.code ?? ''} ${body.detail ?? JSON.stringify(body).slice(0, 300)}`);
    const { claims } = await verifyToken(body.token, service);
    const c = claims as Record<string, unknown>;
    expect(c['x-ms-attestation-type'] === 'tdxvm', 'DEMO_TDX_CLAIM_TYPE', `x-ms-attestation-type is ${String(c['x-ms-attestation-type'])}`);
    expect(c.tdx_mrtd === TD_MRTD.toString('hex'), 'DEMO_TDX_CLAIM_MRTD', `tdx_mrtd is ${String(c.tdx_mrtd)}, the TD's is ${TD_MRTD.toString('hex')}`);
    expect(c.tdx_rtmr2 === TD_RTMR2.toString('hex'), 'DEMO_TDX_CLAIM_RTMR2', 'tdx_rtmr2 is not the workload measurement');
    expect(JSON.stringify(c['x-ms-runtime']) === runtime.toString('utf8'), 'DEMO_TDX_CLAIM_RUNTIME', 'x-ms-runtime is not the runtime data');
    expect(c.tdx_td_attributes_debug === false, 'DEMO_TDX_CLAIM_DEBUG', 'the token says the TD is debuggable');

    const secret = `td-api-key-${randomBytes(9).toString('base64url')}`;
    const releasePolicy = { version: '1.0.0', anyOf: [{ authority: service.issuer, allOf: [{ claim: 'tdx_mrtd', equals: TD_MRTD.toString('hex') }, { claim: 'tdx_td_attributes_debug', equals: false }] }] };
    const put = await fetch(`${service.url}/admin/secrets/demo/td/api-key`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${DEMO_ADMIN_TOKEN}` },
      body: JSON.stringify({ valueText: secret, releasePolicy }),
    });
    expect(put.status === 201 || put.status === 200, 'DEMO_SECRET_REGISTER', `PUT /admin/secrets answered ${put.status}: ${(await put.text()).slice(0, 300)}`);
    const released = await requestSecret({ url: service.url, name: 'demo/td/api-key', tee: 'tdx', getQuote: (rd) => tdQuote(rd) });
    expect(Buffer.from(released.value).toString('utf8') === secret, 'DEMO_SECRET_MISMATCH', 'the TD decrypted a value other than the registered one');

    let denied = '';
    try {
      await requestSecret({ url: service.url, name: 'demo/td/api-key', tee: 'tdx', getQuote: (rd) => tdQuote(rd, Buffer.alloc(48, 0x42)) });
    } catch (e) {
      denied = e instanceof KubeSgxError ? e.code : String(e);
    }
    expect(denied !== '', 'DEMO_RELEASED_TO_OTHER', 'the secret was released to a TD with another MRTD');
    return {
      proved: `a simulated TD's TDREPORT was quoted by the node's QGS over ${qgs.socketPath} (${quotes} quotes); /attest/TdxVm verified the TD quote up to the simulated root (TCB ${String(c.attester_tcb_status)}) and issued a token with this TD's MRTD, RTMR2 and the bound runtime data; the TD ran Trustee's KBS flow with tee "tdx" and decrypted the registered secret; a TD with another MRTD was refused (${denied})`,
      details: {
        qgsSocket: qgs.socketPath,
        claims: Object.fromEntries(['x-ms-attestation-type', 'tdx_mrtd', 'tdx_rtmr2', 'tdx_seamsvn', 'tdx_td_attributes_debug', 'attester_tcb_status', 'x-ms-policy-hash'].map((k) => [k, c[k]])),
        otherTd: denied,
      },
    };
  },
};
