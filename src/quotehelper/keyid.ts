/**
 * Attestation key IDs (`sgx_att_key_id_t`, 256 bytes, holding
 * `sgx_att_key_id_ext_t`). aesmd matches IDs on the first 158 bytes (the
 * `sgx_ql_att_key_id_t` "base"). We advertise Intel's ECDSA P-256 QE3 ID
 * exactly as `sgx_ql_get_keyid()` builds it, because libsgx_dcap_ql and
 * Gramine hard-code it: the ID is a selector, nothing compares it with the
 * quote, so the simulated QE answers to it too.
 */
import { KubeSgxError } from '../errors.js';

export const ATT_KEY_ID_SIZE = 256;
export const ATT_KEY_ID_BASE_SIZE = 158;
/** `sgx_ql_att_key_id_list_header_t`: u16 id, u16 version, u32 num_att_ids. */
export const ATT_KEY_ID_LIST_HEADER_SIZE = 8;
/** SGX_MAX_ATT_KEY_IDS */
export const MAX_ATT_KEY_IDS = 10;
export const ALG_ECDSA_P256 = 2;

/** MRSIGNER of Intel's production QE3 (SGXDataCenterAttestationPrimitives g_qe_mrsigner). */
const INTEL_QE3_MRSIGNER = Buffer.from('8c4f5775d796503e96137f77c68a829a0056ac8ded70140b081b094490c57bff', 'hex');

function buildEcdsaKeyId(): Buffer {
  const id = Buffer.alloc(ATT_KEY_ID_SIZE);
  id.writeUInt16LE(0, 0); // id
  id.writeUInt16LE(0, 2); // version
  id.writeUInt16LE(32, 4); // mrsigner_length
  INTEL_QE3_MRSIGNER.copy(id, 6); // mrsigner[48]
  id.writeUInt32LE(1, 54); // prod_id
  // extended_prod_id @58, config_id @74, family_id @138: zero
  id.writeUInt32LE(ALG_ECDSA_P256, 154); // algorithm_id
  // spid @158, att_key_type @174, reserved @176: zero
  return id;
}

/** Intel's ECDSA P-256 QE3 attestation key ID (256 bytes). Copy before mutating. */
export const INTEL_ECDSA_ATT_KEY_ID: Buffer = buildEcdsaKeyId();

/** aesmd's comparison: the first 158 bytes. */
export function sameAttKeyIdBase(a: Buffer, b: Buffer): boolean {
  return a.length >= ATT_KEY_ID_BASE_SIZE && b.length >= ATT_KEY_ID_BASE_SIZE &&
    a.subarray(0, ATT_KEY_ID_BASE_SIZE).equals(b.subarray(0, ATT_KEY_ID_BASE_SIZE));
}

/** The algorithm_id field of a key ID (2 = ECDSA P-256). */
export function attKeyIdAlgorithm(id: Buffer): number {
  return id.readUInt32LE(154);
}

/** `sgx_ql_att_key_id_list_t` for SelectAttKeyID: header, then n × 256-byte IDs. */
export function encodeAttKeyIdList(ids: readonly Buffer[]): Buffer {
  const out = Buffer.alloc(ATT_KEY_ID_LIST_HEADER_SIZE + ids.length * ATT_KEY_ID_SIZE);
  out.writeUInt32LE(ids.length, 4);
  ids.forEach((id, i) => {
    if (id.length !== ATT_KEY_ID_SIZE) {
      throw new KubeSgxError('QUOTE_HELPER_BAD_KEY_ID', `attestation key ID ${i} is ${id.length} bytes, expected ${ATT_KEY_ID_SIZE}`, { path: ['keyIds', i] });
    }
    id.copy(out, ATT_KEY_ID_LIST_HEADER_SIZE + i * ATT_KEY_ID_SIZE);
  });
  return out;
}

/**
 * Parses a SelectAttKeyID list with aesmd's checks: header id and version
 * zero, at most 10 IDs, and the size exactly header + n × 256. Returns
 * undefined (→ AESM_PARAMETER_ERROR) when any check fails.
 */
export function decodeAttKeyIdList(list: Buffer): Buffer[] | undefined {
  if (list.length < ATT_KEY_ID_LIST_HEADER_SIZE + ATT_KEY_ID_SIZE) return undefined;
  if (list.readUInt16LE(0) !== 0 || list.readUInt16LE(2) !== 0) return undefined;
  const n = list.readUInt32LE(4);
  if (n > MAX_ATT_KEY_IDS) return undefined;
  if (ATT_KEY_ID_LIST_HEADER_SIZE + n * ATT_KEY_ID_SIZE !== list.length) return undefined;
  const ids: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const off = ATT_KEY_ID_LIST_HEADER_SIZE + i * ATT_KEY_ID_SIZE;
    ids.push(list.subarray(off, off + ATT_KEY_ID_SIZE));
  }
  return ids;
}
