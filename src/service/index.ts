/**
 * Attestation service: MAA-compatible attestation API, signed tokens,
 * MAA policy language 1.0, KBS-style secret release, SQLite / Kubernetes
 * state. See docs/attestation-service.md.
 */
export { startAttestationService, prepareAttestationState, assembleAttestationService, type AttestationServiceOptions, type RunningAttestationService, type AssembledService } from './server.js';
export { attestationServiceOptionsSchema, parseAttestationServiceOptions, ATTESTATION_SERVICE_DEFAULTS, type AttestationServiceSettings, type AttestationServiceOptionsInput } from './options.js';
export { createServiceApp, type ServiceDeps, MAX_BODY_BYTES as ATTESTATION_MAX_BODY_BYTES } from './app.js';
export { requestSecret, type RequestSecretOptions, type ReleasedSecret } from './client.js';
export { kbsReportData, canonicalJson as kbsCanonicalJson, type TeePublicKey } from './kbs.js';
export { parsePolicy as parseAttestationPolicy, evaluatePolicy as evaluateAttestationPolicy, DEFAULT_SGX_POLICY, policyHash as maaPolicyHash } from './policy/index.js';
export type { Policy as AttestationPolicy, Claim as AttestationPolicyClaim } from './policy/index.js';
export { parseReleasePolicy, evaluateReleasePolicy, type ReleasePolicy } from './skr.js';
export type { AttestationVerifier, VerifiedQuote } from './verifier.js';
export { createDcapVerifier, type DcapVerifierOptions } from './dcap-verifier.js';
export type { Store as AttestationStore } from './store/types.js';
export { SqliteStore as AttestationSqliteStore } from './store/sqlite.js';
export { KubernetesStore as AttestationKubernetesStore } from './store/kubernetes.js';
export { generateTlsCertificate } from './certs.js';
export { PROBLEM_TYPE_BASE, problemTypeForCode } from './problems.js';
