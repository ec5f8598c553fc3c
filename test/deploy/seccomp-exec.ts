/**
 * Runs a command under an OCI seccomp profile — the JSON a Kubernetes
 * `Localhost` profile is — loaded as runc loads it: libseccomp (through
 * koffi), the default action, each rule for this machine's architecture
 * (names the architecture lacks are skipped, as runc does), the rule's
 * argument conditions ANDed, NO_NEW_PRIVS, then execve(2) of the command.
 * So a test can start a process under exactly the profile a component ships.
 *
 *   node --import tsx test/deploy/seccomp-exec.ts PROFILE.json -- COMMAND ARGS…
 *
 * The rules handled are the ones OCI profiles use: SCMP_ACT_ALLOW and
 * SCMP_ACT_ERRNO (with errnoRet / defaultErrnoRet), conditions NE, LT, LE,
 * EQ, GE, GT and MASKED_EQ (value = mask, valueTwo = expected).
 */
import { readFileSync } from 'node:fs';
import koffi from 'koffi';

export interface OciSeccompRule {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: { index: number; value: number; valueTwo?: number; op: string }[];
}
export interface OciSeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  syscalls: OciSeccompRule[];
}

const OPS: Record<string, number> = { SCMP_CMP_NE: 1, SCMP_CMP_LT: 2, SCMP_CMP_LE: 3, SCMP_CMP_EQ: 4, SCMP_CMP_GE: 5, SCMP_CMP_GT: 6, SCMP_CMP_MASKED_EQ: 7 };
const EPERM = 1;
const NATIVE_ARCH: Record<string, string> = { x64: 'SCMP_ARCH_X86_64', arm64: 'SCMP_ARCH_AARCH64' };

function action(name: string, errnoRet: number | undefined): number {
  if (name === 'SCMP_ACT_ALLOW') return 0x7fff0000;
  if (name === 'SCMP_ACT_ERRNO') return (0x00050000 | ((errnoRet ?? EPERM) & 0xffff)) >>> 0;
  throw new Error(`seccomp-exec: action ${name} is not handled`);
}

/** Whether libseccomp can be loaded here (the tests skip with this reason otherwise). */
export function libseccompMissing(): string | undefined {
  try {
    koffi.load('libseccomp.so.2');
    return undefined;
  } catch (e) {
    return `libseccomp.so.2 cannot be loaded: ${(e as Error).message}`;
  }
}

/** Loads `profile` into this thread's seccomp filter (libseccomp sets NO_NEW_PRIVS). */
export function loadProfile(profile: OciSeccompProfile): { rules: number; skipped: string[] } {
  const native = NATIVE_ARCH[process.arch];
  if (!native || (profile.architectures && !profile.architectures.includes(native))) throw new Error(`seccomp-exec: the profile does not cover ${process.arch}`);
  const lib = koffi.load('libseccomp.so.2');
  const init = lib.func('void *seccomp_init(uint32_t def_action)') as (a: number) => unknown;
  const resolve = lib.func('int seccomp_syscall_resolve_name(const char *name)') as (n: string) => number;
  const addArray = lib.func('int seccomp_rule_add_array(void *ctx, uint32_t action, int syscall, unsigned int arg_cnt, const uint8_t *args)') as (
    ctx: unknown, action: number, nr: number, n: number, args: Buffer | null) => number;
  const load = lib.func('int seccomp_load(void *ctx)') as (ctx: unknown) => number;
  const ctx = init(action(profile.defaultAction, profile.defaultErrnoRet));
  if (!ctx) throw new Error('seccomp-exec: seccomp_init failed');
  let rules = 0;
  const skipped: string[] = [];
  for (const rule of profile.syscalls) {
    const act = action(rule.action, rule.errnoRet);
    // struct scmp_arg_cmp { unsigned int arg; enum scmp_compare op; uint64_t datum_a; uint64_t datum_b; }: 24 bytes
    const args = rule.args ?? [];
    const buf = args.length > 0 ? Buffer.alloc(24 * args.length) : null;
    args.forEach((a, i) => {
      const op = OPS[a.op];
      if (op === undefined) throw new Error(`seccomp-exec: comparison ${a.op} is not handled`);
      buf!.writeUInt32LE(a.index, 24 * i);
      buf!.writeUInt32LE(op, 24 * i + 4);
      buf!.writeBigUInt64LE(BigInt(a.value), 24 * i + 8);
      buf!.writeBigUInt64LE(BigInt(a.valueTwo ?? 0), 24 * i + 16);
    });
    for (const name of rule.names) {
      const nr = resolve(name);
      if (nr < 0) {
        skipped.push(name);
        continue;
      }
      const rc = addArray(ctx, act, nr, args.length, buf);
      if (rc !== 0) throw new Error(`seccomp-exec: seccomp_rule_add(${name}) failed: ${rc}`);
      rules++;
    }
  }
  const rc = load(ctx);
  if (rc !== 0) throw new Error(`seccomp-exec: seccomp_load failed: ${rc}`);
  return { rules, skipped };
}

/** Replaces this process with `argv` (execve, the current environment, stdio kept). */
export function exec(argv: string[]): never {
  const libc = koffi.load('libc.so.6');
  // Node's stdio descriptors are close-on-exec here; the command gets them as a shell would give them.
  const fcntl = libc.func('int fcntl(int fd, int cmd, int arg)') as (fd: number, cmd: number, arg: number) => number;
  const F_SETFD = 2;
  for (const fd of [0, 1, 2]) fcntl(fd, F_SETFD, 0);
  const execve = libc.func('int execve(const char *path, const char **argv, const char **envp)') as (p: string, a: (string | null)[], e: (string | null)[]) => number;
  const env = Object.entries(process.env).map(([k, v]) => `${k}=${v ?? ''}`);
  execve(argv[0]!, [...argv, null], [...env, null]);
  throw new Error(`seccomp-exec: execve ${argv[0]} failed: errno ${koffi.errno()}`);
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const [profilePath, sep, ...command] = process.argv.slice(2);
  if (!profilePath || sep !== '--' || command.length === 0) {
    process.stderr.write('usage: seccomp-exec.ts PROFILE.json -- COMMAND ARGS…\n');
    process.exit(2);
  }
  loadProfile(JSON.parse(readFileSync(profilePath, 'utf8')) as OciSeccompProfile);
  exec(command);
}
