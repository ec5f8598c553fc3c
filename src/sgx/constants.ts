/**
 * Sizes, offsets and enumerations of Intel SGX / TDX DCAP structures.
 * Integers in these structures are little-endian; hashes and keys are raw bytes.
 */

export const QUOTE_HEADER_SIZE = 48;
export const SGX_REPORT_BODY_SIZE = 384;
export const SGX_REPORT_SIZE = 432;
export const SGX_TARGET_INFO_SIZE = 512;
export const TD_REPORT10_SIZE = 584;
export const TD_REPORT15_SIZE = 648;
/** v5 body descriptor: u16 body type + u32 body size. */
export const QUOTE_V5_BODY_DESCRIPTOR_SIZE = 6;
export const ECDSA_P256_SIGNATURE_SIZE = 64;
export const ECDSA_P256_PUBLIC_KEY_SIZE = 64;
/** Upper bound on a declared signature data length; real quotes carry about 4.3 KB. */
export const QUOTE_MAX_SIGNATURE_DATA_SIZE = 1024 * 1024;

export const TEE_TYPE = { SGX: 0x00000000, TDX: 0x00000081 } as const;

export const ATTESTATION_KEY_TYPE = { ECDSA_P256: 2, ECDSA_P384: 3 } as const;

/** v5 body types (u16 at offset 48 of a v5 quote). */
export const QUOTE_BODY_TYPE = { SGX: 1, TD10: 2, TD15: 3 } as const;

export const CERT_DATA_TYPE = {
  PPID_CLEARTEXT: 1,
  PPID_RSA2048_ENCRYPTED: 2,
  PPID_RSA3072_ENCRYPTED: 3,
  PCK_CERT: 4,
  PCK_CERT_CHAIN: 5,
  QE_REPORT_CERT_DATA: 6,
} as const;

/** Intel's QE vendor ID, `939A7233F79C4CA9940A0DB3957F0607`. */
export const INTEL_QE_VENDOR_ID = Buffer.from('939a7233f79c4ca9940a0db3957f0607', 'hex');

/** SGX ATTRIBUTES.flags bits (linux-sgx sgx_attributes.h). */
export const SGX_ATTRIBUTE_FLAGS = {
  INIT: 0x1n,
  DEBUG: 0x2n,
  MODE64BIT: 0x4n,
  PROVISIONKEY: 0x10n,
  EINITTOKENKEY: 0x20n,
  KSS: 0x80n,
  AEXNOTIFY: 0x400n,
} as const;

/** TDX TDATTRIBUTES bits (as Linux's TDX guest/KVM code names them). */
export const TD_ATTRIBUTE_FLAGS = {
  DEBUG: 1n << 0n,
  SEPT_VE_DISABLE: 1n << 28n,
  MIGRATABLE: 1n << 29n,
  PKS: 1n << 30n,
  KL: 1n << 31n,
  PERFMON: 1n << 63n,
} as const;

/** Offsets inside the 384-byte SGX report body. */
export const REPORT_BODY_OFFSET = {
  CPU_SVN: 0,
  MISC_SELECT: 16,
  RESERVED1: 20,
  ISV_EXT_PROD_ID: 32,
  ATTRIBUTES: 48,
  MR_ENCLAVE: 64,
  RESERVED2: 96,
  MR_SIGNER: 128,
  RESERVED3: 160,
  CONFIG_ID: 192,
  ISV_PROD_ID: 256,
  ISV_SVN: 258,
  CONFIG_SVN: 260,
  RESERVED4: 262,
  ISV_FAMILY_ID: 304,
  REPORT_DATA: 320,
} as const;

/** Offsets inside a TD report body (1.0 ends at 584, 1.5 at 648). */
export const TD_REPORT_OFFSET = {
  TEE_TCB_SVN: 0,
  MR_SEAM: 16,
  MR_SIGNER_SEAM: 64,
  SEAM_ATTRIBUTES: 112,
  TD_ATTRIBUTES: 120,
  XFAM: 128,
  MR_TD: 136,
  MR_CONFIG_ID: 184,
  MR_OWNER: 232,
  MR_OWNER_CONFIG: 280,
  RTMR0: 328,
  REPORT_DATA: 520,
  TEE_TCB_SVN2: 584,
  MR_SERVICE_TD: 600,
} as const;

/** OID of Intel's SGX extension in PCK certificates. */
export const SGX_EXTENSION_OID = '1.2.840.113741.1.13.1';
