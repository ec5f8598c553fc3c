/**
 * Who is on the other end of a unix-socket connection: SO_PEERCRED (Linux
 * socket(7)), read with getsockopt(2) through koffi because Node has no API
 * for it. The kernel records the peer's credentials at connect(); the pid is
 * translated into this process's pid namespace and is 0 when the peer is not
 * visible there (another pod without hostPID), so peers are then told apart
 * by uid only.
 */
import type { Socket } from 'node:net';

export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

type GetSockOpt = (fd: number, level: number, name: number, out: Buffer, len: number[]) => number;

const SOL_SOCKET = 1;
/** SO_PEERCRED is 17 on x86, arm, s390 and riscv; powerpc numbers it 21 (asm-generic vs. asm/socket.h). */
const SO_PEERCRED = process.arch === 'ppc64' || process.arch === 'ppc' ? 21 : 17;
/** struct ucred { pid_t pid; uid_t uid; gid_t gid; } */
const UCRED_SIZE = 12;

let getsockopt: GetSockOpt | null | undefined;

async function loadGetsockopt(): Promise<GetSockOpt | null> {
  if (getsockopt !== undefined) return getsockopt;
  if (process.platform !== 'linux') return (getsockopt = null);
  try {
    const { default: koffi } = await import('koffi');
    const libc = koffi.load('libc.so.6');
    getsockopt = libc.func('int getsockopt(int fd, int level, int optname, _Out_ uint8_t *optval, _Inout_ uint32_t *optlen)') as GetSockOpt;
  } catch {
    getsockopt = null; // no glibc (e.g. musl names it libc.so): peers are then one group
  }
  return getsockopt;
}

/** Loads the libc binding once; true when peer credentials can be read. */
export async function peerCredentialsAvailable(): Promise<boolean> {
  return (await loadGetsockopt()) !== null;
}

/** The connection's file descriptor (libuv's Pipe handle exposes it on Unix). */
function socketFd(socket: Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/**
 * The peer's pid/uid/gid, or undefined when they cannot be read (not Linux,
 * no libc binding, not a unix socket). Call peerCredentialsAvailable() first.
 */
export function peerCredentials(socket: Socket): PeerCredentials | undefined {
  const fn = getsockopt;
  const fd = socketFd(socket);
  if (!fn || fd === undefined) return undefined;
  const out = Buffer.alloc(UCRED_SIZE);
  const len = [UCRED_SIZE];
  if (fn(fd, SOL_SOCKET, SO_PEERCRED, out, len) !== 0 || len[0] !== UCRED_SIZE) return undefined;
  return { pid: out.readInt32LE(0), uid: out.readUInt32LE(4), gid: out.readUInt32LE(8) };
}
