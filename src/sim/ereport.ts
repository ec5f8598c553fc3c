/**
 * Simulated EREPORT / EGETKEY(REPORT). A report for a target enclave is MAC'd
 * (AES-128-CMAC over the 384-byte body) with a report key derived for that
 * target, so only the target can check it (reference aesm-and-simulation.md §3):
 *
 *   key = CMAC(platform report secret, 192-byte request)
 *   request: @0 u16 KEYNAME=3 (REPORT) · @8 ATTRIBUTES(16) · @24 MISCSELECT
 *            · @28 OWNEREPOCH(16, zero) · @44 MRENCLAVE · @76 CPUSVN
 *            · @92 CONFIGSVN · @94 CONFIGID(64) · @158 KEYID(32)
 *
 * — the layout Intel's SDK simulator uses, keyed by this platform's secret
 * instead of the SDK's fixed one. The target fields come from TARGETINFO in
 * EREPORT and from the checking enclave's own identity in EGETKEY.
 */
import { KubeSgxError } from '../errors.js';
import { SGX_REPORT_BODY_SIZE, SGX_REPORT_SIZE, SGX_TARGET_INFO_SIZE } from '../sgx/constants.js';
import { Cmac } from './cmac.js';

const KEYNAME_REPORT = 3;

/** The fields of an enclave's identity a report key is bound to (TARGETINFO layout offsets). */
export interface KeyTarget {
  mrEnclave: Uint8Array; // 32
  attributes: Uint8Array; // 16: flags ‖ xfrm
  miscSelect: number;
  configSvn: number;
  configId: Uint8Array; // 64
}

/** The key-relevant fields of a 512-byte TARGETINFO. */
export function keyTargetOf(targetInfo: Uint8Array): KeyTarget {
  if (targetInfo.length !== SGX_TARGET_INFO_SIZE) {
    throw new KubeSgxError('SIM_BAD_TARGET_INFO', `targetInfo: expected ${SGX_TARGET_INFO_SIZE} bytes, got ${targetInfo.length}`, { path: ['targetInfo'] });
  }
  const t = Buffer.from(targetInfo.buffer, targetInfo.byteOffset, targetInfo.byteLength);
  return { mrEnclave: t.subarray(0, 32), attributes: t.subarray(32, 48), configSvn: t.readUInt16LE(50), miscSelect: t.readUInt32LE(52), configId: t.subarray(64, 128) };
}

/** A platform's report-key hierarchy. */
export class ReportKeys {
  private readonly root: Cmac;
  private readonly cache = new Map<string, Cmac>();

  /**
   * @param secret 16-byte platform report secret (the "fused" key)
   * @param cpuSvn the platform CPUSVN (16)
   * @param keyId the KEYID EREPORT writes (CR_REPORT_KEYID; fixed per platform here)
   */
  constructor(
    secret: Uint8Array,
    private readonly cpuSvn: Uint8Array,
    readonly keyId: Buffer,
  ) {
    this.root = new Cmac(secret);
  }

  /** The report key of `target` under `keyId`. */
  key(target: KeyTarget, keyId: Uint8Array): Cmac {
    const req = Buffer.alloc(192);
    req.writeUInt16LE(KEYNAME_REPORT, 0);
    req.set(target.attributes, 8);
    req.writeUInt32LE(target.miscSelect >>> 0, 24);
    req.set(target.mrEnclave, 44);
    req.set(this.cpuSvn, 76);
    req.writeUInt16LE(target.configSvn, 92);
    req.set(target.configId, 94);
    req.set(keyId, 158);
    const k = req.toString('latin1');
    let cmac = this.cache.get(k);
    if (!cmac) {
      cmac = new Cmac(this.root.mac(req));
      if (this.cache.size >= 256) this.cache.delete(this.cache.keys().next().value as string);
      this.cache.set(k, cmac);
    }
    return cmac;
  }

  /** EREPORT: body (384) ‖ KEYID ‖ MAC for the enclave described by `targetInfo`. */
  ereport(targetInfo: Uint8Array, body: Uint8Array): Buffer {
    if (body.length !== SGX_REPORT_BODY_SIZE) throw new KubeSgxError('SIM_INVALID_REPORT', `report body: expected ${SGX_REPORT_BODY_SIZE} bytes`);
    const out = Buffer.alloc(SGX_REPORT_SIZE);
    out.set(body, 0);
    this.keyId.copy(out, 384);
    this.key(keyTargetOf(targetInfo), this.keyId).mac(body).copy(out, 416);
    return out;
  }

  /** EGETKEY + compare, as the enclave `self` checks a report addressed to it. */
  verify(report: Uint8Array, self: KeyTarget): boolean {
    if (report.length !== SGX_REPORT_SIZE) return false;
    return this.key(self, report.subarray(384, 416)).verify(report.subarray(0, SGX_REPORT_BODY_SIZE), report.subarray(416, 432));
  }
}
