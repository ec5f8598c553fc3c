/**
 * The Pod Security Standards "baseline" profile (kubernetes.io/docs/concepts/security/pod-security-standards),
 * control by control, as a checker for the webhook's output: every violation
 * with the field that causes it. Test support only.
 */
type Obj = Record<string, unknown>;

const ALLOWED_CAPABILITIES = new Set([
  'AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE',
  'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT',
]);
const SAFE_SYSCTLS = new Set([
  'kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range', 'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies', 'net.ipv4.ping_group_range', 'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time', 'net.ipv4.tcp_fin_timeout', 'net.ipv4.tcp_keepalive_intvl', 'net.ipv4.tcp_keepalive_probes',
]);
const SELINUX_TYPES = new Set(['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']);

const obj = (v: unknown): Obj => (v && typeof v === 'object' ? (v as Obj) : {});
const list = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);

function securityContextViolations(sc: Obj, where: string, out: string[], container: boolean): void {
  if (obj(sc.windowsOptions).hostProcess === true) out.push(`${where}.securityContext.windowsOptions.hostProcess`);
  if (container && sc.privileged === true) out.push(`${where}.securityContext.privileged`);
  if (container) for (const c of (obj(sc.capabilities).add as unknown[] | undefined) ?? []) {
    if (!ALLOWED_CAPABILITIES.has(String(c))) out.push(`${where}.securityContext.capabilities.add: ${String(c)}`);
  }
  const se = obj(sc.seLinuxOptions);
  if (se.type !== undefined && !SELINUX_TYPES.has(String(se.type))) out.push(`${where}.securityContext.seLinuxOptions.type`);
  if (se.user !== undefined || se.role !== undefined) out.push(`${where}.securityContext.seLinuxOptions.user/role`);
  if (container && sc.procMount !== undefined && sc.procMount !== 'Default') out.push(`${where}.securityContext.procMount`);
  if (obj(sc.seccompProfile).type === 'Unconfined') out.push(`${where}.securityContext.seccompProfile`);
  const aa = obj(sc.appArmorProfile).type;
  if (aa !== undefined && aa !== 'RuntimeDefault' && aa !== 'Localhost') out.push(`${where}.securityContext.appArmorProfile`);
}

/** Every baseline violation of a Pod, e.g. "spec.volumes[0].hostPath"; [] when the pod passes. */
export function baselineViolations(pod: unknown): string[] {
  const p = obj(pod);
  const spec = obj(p.spec);
  const out: string[] = [];
  for (const k of ['hostNetwork', 'hostPID', 'hostIPC'] as const) if (spec[k] === true) out.push(`spec.${k}`);
  securityContextViolations(obj(spec.securityContext), 'spec', out, false);
  for (const s of list(obj(spec.securityContext).sysctls)) if (!SAFE_SYSCTLS.has(String(s.name))) out.push(`spec.securityContext.sysctls: ${String(s.name)}`);
  list(spec.volumes).forEach((v, i) => v.hostPath !== undefined && out.push(`spec.volumes[${i}].hostPath`));
  for (const kind of ['containers', 'initContainers', 'ephemeralContainers'] as const) {
    list(spec[kind]).forEach((c, i) => {
      const where = `spec.${kind}[${i}]`;
      securityContextViolations(obj(c.securityContext), where, out, true);
      list(c.ports).forEach((port, j) => port.hostPort !== undefined && port.hostPort !== 0 && out.push(`${where}.ports[${j}].hostPort`));
    });
  }
  for (const [k, v] of Object.entries(obj(obj(p.metadata).annotations))) {
    if (k.startsWith('container.apparmor.security.beta.kubernetes.io/') && v !== 'runtime/default' && !String(v).startsWith('localhost/')) out.push(`metadata.annotations.${k}`);
  }
  return out;
}
