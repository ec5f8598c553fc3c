/**
 * Intel's QCNL configuration (/etc/sgx_default_qcnl.conf): where the quote
 * provider library (libsgx_dcap_default_qpl) gets PCK certificates and
 * collateral. kube-sgx reads the same file the library reads, so one setting
 * serves both the quote helper's QPL and the attestation service's collateral.
 *
 * Format, as Intel's QCNL reads it (SGXDataCenterAttestationPrimitives
 * QuoteGeneration/qcnl/qcnl_config.cpp and linux/qcnl_config_impl.cpp, DCAP 1.23):
 * JSON with comments (RapidJSON kParseCommentsFlag); a file that does not
 * start with `{` is the legacy `KEY=VALUE` format (PCCS_URL, USE_SECURE_CERT,
 * COLLATERAL_SERVICE, PCCS_API_VERSION, RETRY_TIMES, RETRY_DELAY,
 * LOCAL_PCK_URL, LOCAL_CACHE_ONLY). `collateral_service` defaults to
 * `pccs_url`. DCAP ≥ 1.22 reads the path from $QCNL_CONF_PATH.
 *
 * Intel's reader skips keys of the wrong type and starts with an empty
 * pccs_url; here both are errors at start (QCNL_CONFIG_INVALID,
 * QCNL_PCCS_URL_MISSING), never a library that silently has nowhere to go.
 */
import { readFileSync } from 'node:fs';
import { KubeSgxError } from '../errors.js';
import { INTEL_PCS_URL } from './providers.js';

/** Where the QCNL reads its configuration when $QCNL_CONF_PATH is not set (every DCAP release). */
export const DEFAULT_QCNL_CONFIG = '/etc/sgx_default_qcnl.conf';

export interface QcnlConfig {
  file: string;
  /** PCK certificates (and collateral unless collateralService): `https://host:8081/sgx/certification/v4/`. */
  pccsUrl?: string;
  collateralService?: string;
  useSecureCert: boolean;
  localPckUrl?: string;
  localCacheOnly: boolean;
  pccsApiVersion?: string;
  tcbUpdateType?: 'early' | 'standard';
  retryTimes?: number;
  retryDelay?: number;
}

type Fields = Record<string, unknown>;

function invalid(file: string, message: string, key?: string): never {
  throw new KubeSgxError('QCNL_CONFIG_INVALID', `${file}: ${message}`, { path: key ? [file, key] : [file], details: { file } });
}

/** JSON text without `//` and `/* *\/` comments (outside strings), as RapidJSON's comment flag reads it; lines and columns of what remains are unchanged. */
export function stripJsonComments(text: string, file: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') {
      const start = i;
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
      out += text.slice(start, i + 1);
    } else if (ch === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
      out += '\n';
    } else if (ch === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      if (end < 0) invalid(file, 'unterminated /* comment');
      out += text.slice(i, end + 2).replace(/[^\n]/g, ' ');
      i = end + 1;
    } else {
      out += ch;
    }
  }
  return out;
}

const LEGACY_KEYS: Record<string, string> = {
  PCCS_URL: 'pccs_url',
  USE_SECURE_CERT: 'use_secure_cert',
  COLLATERAL_SERVICE: 'collateral_service',
  PCCS_API_VERSION: 'pccs_api_version',
  RETRY_TIMES: 'retry_times',
  RETRY_DELAY: 'retry_delay',
  LOCAL_PCK_URL: 'local_pck_url',
  LOCAL_CACHE_ONLY: 'local_cache_only',
};

function parseLegacy(text: string, file: string): Fields {
  const out: Fields = {};
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\s/g, '');
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq < 0) invalid(file, `line ${JSON.stringify(raw.trim())} is neither JSON nor KEY=VALUE`);
    const key = LEGACY_KEYS[line.slice(0, eq)];
    if (!key) continue; // Intel's legacy reader ignores unknown keys too
    const value = line.slice(eq + 1);
    if (key === 'use_secure_cert') out[key] = !/^false$/i.test(value);
    else if (key === 'local_cache_only') out[key] = /^true$/i.test(value);
    else if (key === 'retry_times' || key === 'retry_delay') out[key] = /^\d+$/.test(value) ? Number(value) : invalid(file, `${line.slice(0, eq)} must be a whole number`, key);
    else out[key] = value;
  }
  return out;
}

function urlField(fields: Fields, key: string, file: string): string | undefined {
  const v = fields[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') invalid(file, `${key} must be a string URL`, key);
  if (v.trim() === '') return undefined;
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return invalid(file, `${key} ${JSON.stringify(v)} is not a URL`, key);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') invalid(file, `${key} ${JSON.stringify(v)} is not http(s)`, key);
  return v;
}

/** Parses a QCNL configuration's text (JSON with comments, or the legacy KEY=VALUE format). */
export function parseQcnlConfig(text: string, file: string): QcnlConfig {
  let fields: Fields;
  if (text.trimStart().startsWith('{')) {
    try {
      const parsed: unknown = JSON.parse(stripJsonComments(text, file));
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) invalid(file, 'not a JSON object');
      fields = parsed as Fields;
    } catch (e) {
      if (e instanceof KubeSgxError) throw e;
      return invalid(file, `not valid JSON: ${(e as Error).message}`);
    }
  } else {
    fields = parseLegacy(text, file);
  }
  const bool = (key: string, dflt: boolean): boolean => {
    const v = fields[key];
    if (v === undefined) return dflt;
    if (typeof v !== 'boolean') invalid(file, `${key} must be true or false`, key);
    return v;
  };
  const int = (key: string): number | undefined => {
    const v = fields[key];
    if (v === undefined) return undefined;
    if (!Number.isInteger(v) || (v as number) < 0) invalid(file, `${key} must be a whole number`, key);
    return v as number;
  };
  const tcb = fields.tcb_update_type;
  if (tcb !== undefined && (typeof tcb !== 'string' || !['early', 'standard'].includes(tcb.toLowerCase()))) invalid(file, 'tcb_update_type must be early or standard', 'tcb_update_type');
  const version = fields.pccs_api_version;
  if (version !== undefined && version !== '3.0' && version !== '3.1') invalid(file, 'pccs_api_version must be "3.0" or "3.1"', 'pccs_api_version');
  const cfg: QcnlConfig = { file, useSecureCert: bool('use_secure_cert', true), localCacheOnly: bool('local_cache_only', false) };
  const pccsUrl = urlField(fields, 'pccs_url', file);
  const collateralService = urlField(fields, 'collateral_service', file);
  const localPckUrl = urlField(fields, 'local_pck_url', file);
  if (pccsUrl) cfg.pccsUrl = pccsUrl;
  if (collateralService) cfg.collateralService = collateralService;
  if (localPckUrl) cfg.localPckUrl = localPckUrl;
  if (typeof version === 'string') cfg.pccsApiVersion = version;
  if (typeof tcb === 'string') cfg.tcbUpdateType = tcb.toLowerCase() as 'early' | 'standard';
  const retryTimes = int('retry_times');
  const retryDelay = int('retry_delay');
  if (retryTimes !== undefined) cfg.retryTimes = retryTimes;
  if (retryDelay !== undefined) cfg.retryDelay = retryDelay;
  return cfg;
}

/** Reads and parses a QCNL configuration file: QCNL_CONFIG_UNREADABLE when it cannot be read. */
export function readQcnlConfig(file: string): QcnlConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new KubeSgxError('QCNL_CONFIG_UNREADABLE', `cannot read the QCNL configuration ${file}: ${(e as Error).message}`, { path: [file], details: { file }, cause: e });
  }
  return parseQcnlConfig(text, file);
}

/**
 * A configuration the quote provider can get PCK certificates with: a
 * pccs_url (or a local_pck_url, or local_cache_only). QCNL_PCCS_URL_MISSING otherwise.
 */
export function checkQcnlForQuoting(cfg: QcnlConfig): QcnlConfig {
  if (!cfg.pccsUrl && !cfg.localPckUrl && !cfg.localCacheOnly) {
    throw new KubeSgxError('QCNL_PCCS_URL_MISSING', `${cfg.file}: pccs_url is not set: the quote provider library has no PCCS to get PCK certificates from. Set "pccs_url" to your PCCS, e.g. "https://pccs.example.com:8081/sgx/certification/v4/" (in deploy/overlays/<overlay>/sgx_default_qcnl.conf)`, {
      path: [cfg.file, 'pccs_url'],
      details: { file: cfg.file },
    });
  }
  return cfg;
}

export interface QcnlCollateralSource {
  /** Intel PCS (collateral_service at api.trustedservices.intel.com) or a PCCS. */
  kind: 'pcs' | 'pccs';
  /** Base URL without the `/sgx/certification/vN/` tail the providers add themselves. */
  baseUrl: string;
  insecureTls: boolean;
  update?: 'early' | 'standard';
}

/** Where verification collateral comes from: collateral_service, else pccs_url (as Intel's QCNL decides). */
export function qcnlCollateralSource(cfg: QcnlConfig): QcnlCollateralSource {
  const url = cfg.collateralService ?? cfg.pccsUrl;
  if (!url) {
    throw new KubeSgxError('QCNL_PCCS_URL_MISSING', `${cfg.file}: neither collateral_service nor pccs_url is set: no source of verification collateral. Set "pccs_url" (your PCCS) or "collateral_service"`, {
      path: [cfg.file, 'pccs_url'],
      details: { file: cfg.file },
    });
  }
  const m = /^(.*?)\/sgx\/certification\/v[34]\/?$/.exec(url);
  if (!m) invalid(cfg.file, `${cfg.collateralService ? 'collateral_service' : 'pccs_url'} ${JSON.stringify(url)} must end with /sgx/certification/v4/ (the QPL appends its paths to it)`, cfg.collateralService ? 'collateral_service' : 'pccs_url');
  const baseUrl = m[1];
  const kind = new URL(baseUrl).origin === new URL(INTEL_PCS_URL).origin ? 'pcs' : 'pccs';
  return { kind, baseUrl, insecureTls: !cfg.useSecureCert, ...(cfg.tcbUpdateType ? { update: cfg.tcbUpdateType } : {}) };
}
