/**
 * `kube-sgx doctor --node`: what this node needs for SGX pods to start and
 * get quotes, each with a fix line. Run on the host, or in a pod with the
 * host mounted (`--host-root`):
 *
 * - CPU flags, the SGX driver and its device nodes;
 * - the EPC size and where it came from (sysfs, CPUID, --epc-bytes);
 * - the aesmd socket (Intel's aesmd or the kube-sgx quote helper), asked a
 *   real aesmd-protocol question;
 * - Intel's quote library and quote provider library on the loader's path;
 * - the QCNL config the quote provider reads, as QCNL reads it;
 * - the PCCS / THIM URL in that config, fetched.
 *
 * Read-only; nothing here changes the node.
 */
import { lstat, open, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { toKubeSgxError } from '../errors.js';
import { AESMD_SOCKET_PATH, AESM_ADDR_ENV, QCNL_CONFIG_PATH, SGX_DEVICE_PATHS } from '../names.js';
import { discoverSgx, type SgxInventory } from '../node/discovery.js';
import { readEpcProbeFile } from '../node/epc-probe.js';
import { parseQcnlConfig, type QcnlConfig } from '../node/qcnl.js';
import { AesmClient } from '../quotehelper/client.js';
import { httpGet } from '../dcap/http.js';

export type NodeCheckStatus = 'ok' | 'warning' | 'error';

export interface NodeCheck {
  /** Stable id: tdx, cpu, driver, provision, epc, aesmd, qpl.dcap_ql, qpl.quoteprov, qcnl.config, pccs, collateral-service. */
  check: string;
  status: NodeCheckStatus;
  message: string;
  /** What to do about it (absent when ok). */
  fix?: string;
}

export interface NodeDoctorReport {
  /** True when no check is an error (warnings allowed). */
  ok: boolean;
  checkedAt: string;
  hostRoot: string;
  epc: { bytes: number; source: SgxInventory['epcSource'] } | null;
  checks: NodeCheck[];
}

export interface NodeDoctorOptions {
  /** Where the host filesystem is (default /). */
  hostRoot?: string;
  /** As the node agent's --epc-bytes. */
  epcBytes?: number;
  /** As the node agent's --epc-file: CPUID from the init container's probe instead of opening the cpuid device (an unprivileged pod cannot). */
  epcFile?: string;
  /** QCNL config file (default <hostRoot>/etc/sgx_default_qcnl.conf). */
  qcnlConfig?: string;
  /** Directories to look for the libraries in (default: the loader's standard directories and ld.so.conf under hostRoot). */
  libraryPath?: string[];
  /** aesmd socket (default <hostRoot>/var/run/aesmd/aesm.socket). */
  aesmSocket?: string;
  /** Per network / socket check (default 5000 ms). */
  timeoutMs?: number;
  now?: Date;
}

export const DCAP_QL_LIBRARY = 'libsgx_dcap_ql.so.1';
/** Intel's quote library dlopens the first of these (QuoteGeneration/quote_wrapper: SGX_QL_QUOTE_CONFIG_LIB_FILE_NAME, then _LEGACY). */
export const QUOTE_PROVIDER_LIBRARIES = ['libdcap_quoteprov.so.1', 'libdcap_quoteprov.so'] as const;
/** The loader's trusted directories on Debian/Ubuntu (multiarch) and RHEL-likes, then /usr/local/lib. */
const STANDARD_LIBRARY_DIRS = ['/usr/lib/x86_64-linux-gnu', '/lib/x86_64-linux-gnu', '/usr/lib64', '/lib64', '/usr/lib', '/lib', '/usr/local/lib'];
/** Intel's QPL links the QCNL; Azure's DCAP client does not read the QCNL config at all. */
const QCNL_LINK_MARKER = 'libsgx_default_qcnl_wrapper';

/** Directories listed in <hostRoot>/etc/ld.so.conf and its `include`d files (one level of glob: dir/*.conf). */
async function ldSoConfDirs(hostRoot: string): Promise<string[]> {
  const dirs: string[] = [];
  const readConf = async (hostPath: string, depth: number): Promise<void> => {
    let text: string;
    try {
      text = await readFile(join(hostRoot, hostPath), 'utf8');
    } catch {
      return;
    }
    for (const raw of text.split('\n')) {
      const line = raw.replace(/#.*/, '').trim();
      if (!line) continue;
      const inc = /^include\s+(\S+)$/.exec(line);
      if (inc && depth < 2) {
        const pattern = inc[1]!;
        const m = /^(.*)\/\*\.conf$/.exec(pattern);
        if (m) {
          const names = await readdir(join(hostRoot, m[1]!)).catch(() => [] as string[]);
          for (const n of names.filter((x) => x.endsWith('.conf')).sort()) await readConf(`${m[1]}/${n}`, depth + 1);
        } else await readConf(pattern, depth + 1);
      } else if (line.startsWith('/')) dirs.push(line);
    }
  };
  await readConf('/etc/ld.so.conf', 0);
  return dirs;
}

interface FoundLibrary {
  path: string;
  elf: boolean;
  linksQcnl: boolean;
}

async function findLibrary(names: readonly string[], dirs: readonly string[]): Promise<{ found?: FoundLibrary; broken?: string }> {
  let broken: string | undefined;
  for (const name of names) {
    for (const dir of dirs) {
      const path = join(dir, name);
      let bytes: Buffer;
      try {
        bytes = await readFile(path);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        // A dangling symlink (package half-removed) is worth naming; absence is not.
        if (code === 'ENOENT' && (await lstat(path).then(() => true, () => false))) broken ??= `${path} is a dangling symbolic link`;
        else if (code !== 'ENOENT' && code !== 'ENOTDIR') broken ??= `${path}: ${(e as Error).message}`;
        continue;
      }
      const elf = bytes.subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
      return { found: { path, elf, linksQcnl: bytes.includes(QCNL_LINK_MARKER) }, ...(broken ? { broken } : {}) };
    }
  }
  return broken ? { broken } : {};
}

async function aesmAnswers(socket: string, timeoutMs: number): Promise<{ keyIds: number } | { error: string }> {
  try {
    const n = await new AesmClient({ socketPath: socket, timeoutMs }).getSupportedAttKeyIdNum();
    return { keyIds: n };
  } catch (e) {
    return { error: toKubeSgxError(e).message };
  }
}

async function probeCollateralUrl(base: string, qcnl: QcnlConfig, timeoutMs: number): Promise<{ status: NodeCheckStatus; message: string }> {
  const url = `${base.endsWith('/') ? base : base + '/'}qe/identity`;
  try {
    const res = await httpGet(url, { timeoutMs, maxBytes: 1 << 20, insecureTls: !qcnl.useSecureCert });
    const json = (() => {
      try {
        return JSON.parse(res.body.toString('utf8')) as unknown;
      } catch {
        return undefined;
      }
    })();
    const identity = typeof json === 'object' && json !== null && 'enclaveIdentity' in json;
    return identity
      ? { status: 'ok', message: `GET ${url} answered ${res.status} with a QE identity` }
      : { status: 'warning', message: `GET ${url} answered ${res.status} but not with a QE identity (enclaveIdentity missing): is this a PCCS / PCS / THIM URL?` };
  } catch (e) {
    const msg = toKubeSgxError(e).message.replace(/\s+/g, ' ').trim();
    // An HTTP error status still proves the server is reachable.
    return /: HTTP \d{3}/.test(msg) ? { status: 'warning', message: `${msg} (reachable, but the request failed)` } : { status: 'error', message: msg };
  }
}

function driverCheck(inv: SgxInventory): NodeCheck {
  if (inv.enclaveDevice === null) {
    return {
      check: 'driver',
      status: 'error',
      message: 'no SGX device node (/dev/sgx_enclave, /dev/sgx/enclave or /dev/isgx): the SGX driver is not loaded',
      fix: 'use a kernel ≥ 5.11 with CONFIG_X86_SGX=y (in-tree driver), or install Intel\'s out-of-tree DCAP driver; check that SGX is enabled in the BIOS and `dmesg | grep -i sgx`',
    };
  }
  const kind = inv.enclaveDevices.includes(SGX_DEVICE_PATHS.enclave[0]) ? 'in-tree driver' : inv.enclaveDevices.length > 0 ? 'DCAP driver layout' : 'legacy isgx driver (no FLC)';
  return { check: 'driver', status: 'ok', message: `${inv.enclaveDevice} (${kind})` };
}

function cpuCheck(inv: SgxInventory): NodeCheck {
  if (inv.cpuSgx === null) return { check: 'cpu', status: 'warning', message: 'cannot read proc/cpuinfo under the host root', fix: 'mount the host\'s /proc/cpuinfo (the node agent DaemonSet does) or pass --host-root' };
  if (!inv.cpuSgx) return { check: 'cpu', status: 'error', message: 'the CPU does not report the sgx flag', fix: 'enable SGX in the BIOS (or choose an SGX VM size, e.g. Azure DCsv3); a CPU without SGX cannot run enclaves' };
  if (!inv.cpuFlc) return { check: 'cpu', status: 'warning', message: 'no sgx_lc flag (Flexible Launch Control): the in-tree driver will not load', fix: 'enable FLC in the BIOS if offered; otherwise only the legacy isgx driver works' };
  return { check: 'cpu', status: 'ok', message: 'sgx and sgx_lc flags present' };
}

function epcCheck(inv: SgxInventory): NodeCheck {
  if (inv.epcBytes > 0) {
    const sections = inv.epcSections ? `; sections ${inv.epcSections.map((s) => `${s.base}+${s.bytes}`).join(', ')}` : '';
    const from = inv.epcSource === 'cpuid' ? `CPUID leaf 0x12 via ${inv.cpuidDevice}` : inv.epcSource === 'override' ? '--epc-bytes' : 'sysfs sgx_total_bytes';
    return { check: 'epc', status: 'ok', message: `${inv.epcBytes} bytes (${Math.floor(inv.epcBytes / 2 ** 20)} MiB) from ${from}${sections}` };
  }
  const why = inv.reasons.find((r) => r.startsWith('EPC size unknown')) ?? 'EPC size is 0';
  return { check: 'epc', status: 'error', message: why, fix: 'load the cpuid module (modprobe cpuid) so CPUID leaf 0x12 can be read, use a kernel ≥ 5.17 (sysfs), or give the node agent --epc-bytes' };
}

/** Runs every node check; never throws for what it finds (a failed check is a check with status error). */
export async function runNodeDoctor(opts: NodeDoctorOptions = {}): Promise<NodeDoctorReport> {
  const hostRoot = opts.hostRoot ?? '/';
  const timeoutMs = opts.timeoutMs ?? 5000;
  const checks: NodeCheck[] = [];

  // ---- CPU, driver, EPC ----
  let inv: SgxInventory | null = null;
  try {
    const cpuidProbe = opts.epcFile === undefined ? undefined : { file: opts.epcFile, probe: await readEpcProbeFile(opts.epcFile) };
    inv = await discoverSgx(hostRoot, { ...(opts.epcBytes !== undefined ? { epcBytes: opts.epcBytes } : {}), ...(cpuidProbe ? { cpuidProbe } : {}) });
  } catch (e) {
    const err = toKubeSgxError(e);
    checks.push({ check: 'epc', status: 'error', message: `${err.code}: ${err.message}`, fix: 'in the node agent\'s pod pass --epc-file=/run/kube-sgx/epc.json (its init container probe-epc reads the cpuid device); on the host run as root; or give --epc-bytes' });
  }
  // A trust domain has no SGX: its check is the TDX guest device, not the SGX stack.
  if (inv?.tdx?.guest && inv.enclaveDevice === null) {
    const t = inv.tdx;
    checks.push(
      t.guestDevice
        ? { check: 'tdx', status: 'ok', message: `TDX guest: ${t.guestDevice} (${t.evidence.join(', ')}); pods get it as tdx.intel.com/tdx-guest` }
        : { check: 'tdx', status: 'error', message: `TDX guest (${t.evidence.join(', ')}) without a guest device: apps cannot get a TDREPORT`, fix: 'load the tdx_guest driver (Linux ≥ 6.2, CONFIG_TDX_GUEST_DRIVER) so /dev/tdx_guest exists' },
    );
    return { ok: !checks.some((c) => c.status === 'error'), checkedAt: (opts.now ?? new Date()).toISOString(), hostRoot, epc: { bytes: inv.epcBytes, source: inv.epcSource }, checks };
  }
  if (inv) {
    if (inv.tdx?.host) checks.push({ check: 'tdx', status: 'ok', message: `TDX host: ${inv.tdx.evidence.join(', ')}` });
    checks.push(cpuCheck(inv), driverCheck(inv));
    if (inv.enclaveDevice !== null) {
      checks.push(
        inv.provisionDevice
          ? { check: 'provision', status: 'ok', message: inv.provisionDevice }
          : { check: 'provision', status: 'error', message: 'no /dev/sgx_provision or /dev/sgx/provision: the quoting enclave cannot get its provisioning key, so DCAP quotes fail', fix: 'load a driver that provides the provision device (in-tree ≥ 5.11 or the DCAP driver), and give the quote helper access to it' },
      );
    }
    checks.push(epcCheck(inv));
  }

  // ---- aesmd / quote helper socket ----
  const socket = opts.aesmSocket ?? join(hostRoot, AESMD_SOCKET_PATH);
  const st = await lstat(socket).catch(() => null);
  if (!st) {
    checks.push({ check: 'aesmd', status: 'error', message: `no socket at ${socket}: pods with ${AESM_ADDR_ENV}=1 cannot get quotes`, fix: `run the kube-sgx quote helper on this node (its DaemonSet serves ${AESMD_SOCKET_PATH}) or start Intel's aesmd` });
  } else if (!st.isSocket()) {
    checks.push({ check: 'aesmd', status: 'error', message: `${socket} exists but is not a socket`, fix: 'remove it and restart the quote helper or aesmd' });
  } else {
    const r = await aesmAnswers(socket, timeoutMs);
    checks.push(
      'keyIds' in r
        ? { check: 'aesmd', status: 'ok', message: `${socket} answers (${r.keyIds} attestation key type${r.keyIds === 1 ? '' : 's'})` }
        : { check: 'aesmd', status: 'error', message: `${socket} does not answer: ${r.error}`, fix: 'a stale socket: restart the quote helper pod (or aesmd) on this node; its logs say why it stopped' },
    );
  }

  // ---- quote library and quote provider ----
  const dirs = opts.libraryPath ?? [...new Set([...(await ldSoConfDirs(hostRoot)), ...STANDARD_LIBRARY_DIRS])].map((d) => join(hostRoot, d));
  const where = `in ${dirs.join(', ')}`;
  const ql = await findLibrary([DCAP_QL_LIBRARY], dirs);
  checks.push(
    ql.found?.elf
      ? { check: 'qpl.dcap_ql', status: 'ok', message: ql.found.path }
      : ql.found
        ? { check: 'qpl.dcap_ql', status: 'error', message: `${ql.found.path} is not an ELF shared object`, fix: 'reinstall libsgx-dcap-ql' }
        : { check: 'qpl.dcap_ql', status: 'error', message: `${DCAP_QL_LIBRARY} not found ${where}${ql.broken ? ` (${ql.broken})` : ''}`, fix: 'install libsgx-dcap-ql from Intel\'s SGX package repository (in the quote helper image for --backend=dcap, or on the host for aesmd)' },
  );
  const qp = await findLibrary(QUOTE_PROVIDER_LIBRARIES, dirs);
  checks.push(
    qp.found?.elf
      ? { check: 'qpl.quoteprov', status: 'ok', message: `${qp.found.path}${qp.found.linksQcnl ? ' (Intel QPL: reads the QCNL config)' : ' (not Intel\'s QPL, e.g. the Azure DCAP client: no QCNL config)'}` }
      : qp.found
        ? { check: 'qpl.quoteprov', status: 'error', message: `${qp.found.path} is not an ELF shared object`, fix: 'reinstall the quote provider package' }
        : { check: 'qpl.quoteprov', status: 'error', message: `none of ${QUOTE_PROVIDER_LIBRARIES.join(', ')} found ${where}${qp.broken ? ` (${qp.broken})` : ''}`, fix: 'install a quote provider: libsgx-dcap-default-qpl (Intel, with a PCCS) or az-dcap-client (Azure)' },
  );

  // ---- QCNL config and the collateral services in it ----
  const usesQcnl = !qp.found || qp.found.linksQcnl;
  const qcnlPath = opts.qcnlConfig ?? join(hostRoot, QCNL_CONFIG_PATH);
  if (usesQcnl) {
    let text: string | null = null;
    try {
      const fh = await open(qcnlPath, 'r');
      try {
        text = (await fh.readFile('utf8')).toString();
      } finally {
        await fh.close();
      }
    } catch (e) {
      checks.push({ check: 'qcnl.config', status: 'error', message: `cannot read ${qcnlPath}: ${(e as Error).message}`, fix: `write ${QCNL_CONFIG_PATH} with your PCCS URL, e.g. {"pccs_url": "https://pccs.example:8081/sgx/certification/v4/", "use_secure_cert": true} (Azure: "https://global.acccache.azure.net/sgx/certification/v4/")` });
    }
    if (text !== null) {
      const qcnl = parseQcnlConfig(text);
      const linked = (await lstat(qcnlPath).catch(() => null))?.isSymbolicLink() ?? false;
      const errors = qcnl.problems.filter((p) => p.severity === 'error');
      const warnings = qcnl.problems.filter((p) => p.severity === 'warning');
      if (linked) warnings.push({ severity: 'warning', message: 'it is a symbolic link: recent Intel QCNL opens it with O_NOFOLLOW and then uses its defaults; mount the file itself (a ConfigMap with subPath)' });
      const summary = `${qcnlPath} (${qcnl.format} format): pccs_url ${qcnl.pccsUrl}, use_secure_cert ${qcnl.useSecureCert}${qcnl.collateralServiceUrl !== qcnl.pccsUrl ? `, collateral_service ${qcnl.collateralServiceUrl}` : ''}`;
      checks.push(
        errors.length > 0
          ? { check: 'qcnl.config', status: 'error', message: `${summary}; ${[...errors, ...warnings].map((p) => p.message).join('; ')}`, fix: 'fix the file: JSON with // comments allowed, no trailing commas, keys and types as in Intel\'s sgx_default_qcnl.conf' }
          : warnings.length > 0
            ? { check: 'qcnl.config', status: 'warning', message: `${summary}; ${warnings.map((p) => p.message).join('; ')}`, fix: 'check the keys against Intel\'s sgx_default_qcnl.conf' }
            : { check: 'qcnl.config', status: 'ok', message: summary },
      );
      if (qcnl.localCacheOnly) {
        checks.push({ check: 'pccs', status: 'ok', message: 'local_cache_only is set: QCNL does not contact the PCCS' });
      } else {
        const targets: Array<[string, string]> = [['pccs', qcnl.pccsUrl]];
        if (qcnl.collateralServiceUrl !== qcnl.pccsUrl) targets.push(['collateral-service', qcnl.collateralServiceUrl]);
        for (const [check, base] of targets) {
          const r = await probeCollateralUrl(base, qcnl, timeoutMs);
          checks.push({
            check,
            status: r.status,
            message: r.message,
            ...(r.status === 'ok'
              ? {}
              : { fix: `check that this node can reach ${base} (DNS, egress NetworkPolicy, proxy); ${qcnl.useSecureCert ? 'a PCCS with a self-signed certificate needs its CA installed (or use_secure_cert false on a loopback PCCS)' : 'use_secure_cert is false'}; on Azure use https://global.acccache.azure.net/sgx/certification/v4/` }),
          });
        }
      }
    }
  } else {
    checks.push({ check: 'qcnl.config', status: 'ok', message: `not used: the quote provider ${qp.found?.path} does not link Intel's QCNL` });
  }

  return {
    ok: !checks.some((c) => c.status === 'error'),
    checkedAt: (opts.now ?? new Date()).toISOString(),
    hostRoot,
    epc: inv ? { bytes: inv.epcBytes, source: inv.epcSource } : null,
    checks,
  };
}

/** Human output: one line per check, a fix line under each that is not ok, a summary line. */
export function formatNodeDoctorReport(r: NodeDoctorReport): string {
  const label: Record<NodeCheckStatus, string> = { ok: 'OK     ', warning: 'WARNING', error: 'ERROR  ' };
  const lines: string[] = [];
  for (const c of r.checks) {
    lines.push(`${label[c.status]} ${c.check}: ${c.message}`);
    if (c.fix) lines.push(`        fix: ${c.fix}`);
  }
  const errors = r.checks.filter((c) => c.status === 'error').length;
  const warnings = r.checks.filter((c) => c.status === 'warning').length;
  lines.push(r.ok ? `OK: node ready for SGX${warnings ? ` (${warnings} warning(s))` : ''}` : `${errors} error(s), ${warnings} warning(s)`);
  return lines.join('\n') + '\n';
}
