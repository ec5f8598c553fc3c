/**
 * Intel's QCNL configuration (`/etc/sgx_default_qcnl.conf`) for diagnosis:
 * where src/dcap/qcnl.ts refuses a config at start, this collects every
 * problem and the values QCNL will actually use. Read the way the QCNL
 * library reads it (SGXDataCenterAttestationPrimitives,
 * QuoteGeneration/qcnl/qcnl_config.cpp and linux/qcnl_config_impl.cpp), so
 * `kube-sgx doctor --node` can say what the quote provider will actually use:
 *
 * - JSON with `//` and `/* *\/` comments (rapidjson kParseCommentsFlag; no
 *   trailing commas). A file that fails to parse and starts with `{` is an
 *   error in QCNL's log; QCNL then falls back to the legacy reader, which finds
 *   nothing in JSON text, so every setting is its default.
 * - Otherwise the legacy `KEY=VALUE` format (`#` comments, all whitespace
 *   removed before parsing).
 * - A value of the wrong JSON type is silently ignored (the default stays),
 *   and keys are case sensitive; a `tcb_update_type` other than early /
 *   standard makes QCNL reject the JSON config.
 */

import { stripJsonComments } from '../dcap/qcnl.js';
import { isHttpUrl } from '../ops/options.js';

/** QCNL's default pccs_url in the versions read (qcnl_config.h: the QcnlConfig constructor). */
export const QCNL_DEFAULT_PCCS_URL = 'https://localhost:8081/sgx/certification/v4/';

export interface QcnlProblem {
  severity: 'error' | 'warning';
  message: string;
}

export interface QcnlConfig {
  format: 'json' | 'legacy';
  /** Effective values (QCNL defaults where the file sets none or sets a wrong type). */
  pccsUrl: string;
  useSecureCert: boolean;
  /** Where verification collateral comes from (pccs_url unless collateral_service is set). */
  collateralServiceUrl: string;
  localCacheOnly: boolean;
  problems: QcnlProblem[];
}

type Kind = 'string' | 'url' | 'bool' | 'int' | 'number' | 'object';
const JSON_KEYS: Readonly<Record<string, Kind>> = {
  pccs_url: 'url',
  use_secure_cert: 'bool',
  collateral_service: 'url',
  tcb_update_type: 'string',
  pccs_api_version: 'string',
  retry_times: 'int',
  retry_delay: 'int',
  local_pck_url: 'url',
  pck_cache_expire_hours: 'number',
  verify_collateral_cache_expire_hours: 'number',
  custom_request_options: 'object',
  local_cache_only: 'bool',
};
const LEGACY_KEYS = new Set([
  'PCCS_URL',
  'USE_SECURE_CERT',
  'COLLATERAL_SERVICE',
  'PCCS_API_VERSION',
  'RETRY_TIMES',
  'RETRY_DELAY',
  'LOCAL_PCK_URL',
  'PCK_CACHE_EXPIRE_HOURS',
  'VERIFY_COLLATERAL_CACHE_EXPIRE_HOURS',
  'LOCAL_CACHE_ONLY',
]);
/** Settings whose loss changes where or how collateral is fetched: a wrong type there is an error. */
const CRITICAL = new Set(['pccs_url', 'use_secure_cert', 'collateral_service']);

function lineCol(text: string, pos: number): string {
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  return `line ${line}, column ${pos - before.lastIndexOf('\n')}`;
}

function kindOf(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

function parseJsonConfig(text: string, problems: QcnlProblem[]): Record<string, unknown> | null {
  let data: unknown;
  let stripped = text;
  try {
    stripped = stripJsonComments(text, 'QCNL config');
    data = JSON.parse(stripped);
  } catch (e) {
    // Stripping keeps lines and columns, so a JSON.parse position maps back to the file.
    const m = /position (\d+)/.exec((e as Error).message);
    const where = m ? ` at ${lineCol(stripped, Number(m[1]))}` : '';
    problems.push({ severity: 'error', message: `not valid JSON${where} (${(e as Error).message}); QCNL then ignores the whole file and uses ${QCNL_DEFAULT_PCCS_URL}` });
    return null;
  }
  // Text starting with '{' that parses is an object.
  return data as Record<string, unknown>;
}

/** Parses the text of a QCNL config; never throws: what QCNL would get wrong is in `problems`. */
export function parseQcnlConfig(text: string): QcnlConfig {
  const problems: QcnlProblem[] = [];
  const cfg: QcnlConfig = {
    format: 'json',
    pccsUrl: QCNL_DEFAULT_PCCS_URL,
    useSecureCert: true,
    collateralServiceUrl: QCNL_DEFAULT_PCCS_URL,
    localCacheOnly: false,
    problems,
  };
  if (text.trimStart().startsWith('{')) {
    const obj = parseJsonConfig(text, problems);
    if (!obj) return cfg;
    let collateral: string | undefined;
    for (const [key, value] of Object.entries(obj)) {
      const kind = JSON_KEYS[key];
      if (!kind) {
        const hint = Object.keys(JSON_KEYS).find((k) => k.toLowerCase() === key.toLowerCase());
        problems.push({ severity: 'warning', message: `unknown key ${JSON.stringify(key)} is ignored by QCNL${hint ? ` (keys are case sensitive: ${hint})` : ''}` });
        continue;
      }
      const actual = kindOf(value);
      const ok =
        kind === 'url' || kind === 'string'
          ? actual === 'string'
          : kind === 'bool'
            ? actual === 'boolean'
            : kind === 'int'
              ? Number.isInteger(value)
              : kind === 'number'
                ? actual === 'number'
                : actual === 'object';
      if (!ok) {
        const expected = kind === 'url' ? 'string' : kind === 'bool' ? 'boolean' : kind === 'int' ? 'integer' : kind;
        problems.push({
          severity: CRITICAL.has(key) ? 'error' : 'warning',
          message: `${key} must be a JSON ${expected}, got ${actual} ${JSON.stringify(value)}: QCNL ignores it and keeps its default`,
        });
        continue;
      }
      if (kind === 'url' && !isHttpUrl(value as string)) {
        problems.push({ severity: 'error', message: `${key} is not an http(s) URL: ${JSON.stringify(value)}` });
        continue;
      }
      if (key === 'pccs_url') cfg.pccsUrl = value as string;
      else if (key === 'collateral_service') collateral = value as string;
      else if (key === 'use_secure_cert') cfg.useSecureCert = value as boolean;
      else if (key === 'local_cache_only') cfg.localCacheOnly = value as boolean;
      else if (key === 'tcb_update_type' && !['early', 'standard'].includes((value as string).toLowerCase())) {
        problems.push({ severity: 'error', message: `tcb_update_type must be early or standard, got ${JSON.stringify(value)}: QCNL rejects the whole JSON config` });
      }
    }
    if (!('pccs_url' in obj)) problems.push({ severity: 'warning', message: `no pccs_url: QCNL uses its default ${QCNL_DEFAULT_PCCS_URL}` });
    cfg.collateralServiceUrl = collateral ?? cfg.pccsUrl;
    return cfg;
  }

  cfg.format = 'legacy';
  let collateral: string | undefined;
  let sawUrl = false;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\s/g, '');
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    const name = eq < 0 ? line : line.slice(0, eq);
    const value = eq < 0 ? '' : line.slice(eq + 1);
    if (!LEGACY_KEYS.has(name)) {
      problems.push({ severity: 'warning', message: `unknown setting ${JSON.stringify(name.slice(0, 60))} is ignored by QCNL (legacy KEY=VALUE format)` });
      continue;
    }
    if ((name === 'PCCS_URL' || name === 'COLLATERAL_SERVICE' || name === 'LOCAL_PCK_URL') && !isHttpUrl(value)) {
      problems.push({ severity: 'error', message: `${name} is not an http(s) URL: ${JSON.stringify(value)}` });
      continue;
    }
    if (name === 'PCCS_URL') {
      cfg.pccsUrl = value;
      sawUrl = true;
    } else if (name === 'COLLATERAL_SERVICE') collateral = value;
    else if (name === 'USE_SECURE_CERT') cfg.useSecureCert = !(value === 'FALSE' || value === 'false');
    else if (name === 'LOCAL_CACHE_ONLY') cfg.localCacheOnly = value === 'TRUE' || value === 'true';
  }
  if (!sawUrl) problems.push({ severity: 'warning', message: `no PCCS_URL: QCNL uses its default ${QCNL_DEFAULT_PCCS_URL}` });
  cfg.collateralServiceUrl = collateral ?? cfg.pccsUrl;
  return cfg;
}
