/**
 * The QGS on AF_VSOCK (Intel's default: port 4050, any CID), where guests'
 * libtdx_attest and QEMU's `quote-generation-socket: {type: vsock, cid: 2,
 * port: 4050}` connect.
 *
 * Node has no AF_VSOCK. The listening socket is made with libc through koffi
 * (socket, bind to sockaddr_vm, listen), then handed to libuv as a stream
 * server: Node's own pipe handle (`process.binding('pipe_wrap').Pipe`, what
 * net.Server uses for unix sockets) opens any stream socket by descriptor,
 * accepts on it in the event loop, and gives each connection a stream handle
 * that net.Socket wraps. So vsock connections go through exactly the same
 * handler, limits and deadlines as unix ones, with no extra thread.
 *
 * A client side for tests and local tools: `connectVsock` makes a
 * non-blocking socket with libc, starts connect(), waits for it with poll()
 * on a libuv worker thread (koffi's async call), reads SO_ERROR, and wraps
 * the connected descriptor in the same pipe handle as a net.Socket.
 *
 * Limits: Linux only (libc.so.6); needs a vsock transport in the kernel
 * (vhost_vsock on a KVM host; vsock_loopback for connections within one
 * machine). What the tests prove: the listen and connect paths on
 * descriptors made by koffi (test/qgs/vsock.test.ts, with AF_UNIX sockets),
 * bind/listen on AF_VSOCK, and, where the kernel has vsock_loopback, a QGS
 * exchange over a real AF_VSOCK connection; a connection from a real guest
 * was not available to test.
 */
import { existsSync, readFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { gunzipSync } from 'node:zlib';
import koffi from 'koffi';
import { KubeSgxError } from '../errors.js';
import type { QgsConnectionHandler } from './server.js';

const AF_UNIX = 1;
const AF_VSOCK = 40;
const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const VMADDR_CID_ANY = 0xffffffff;
/** The loopback CID: a connection to it stays in this kernel (vsock_loopback). */
export const VMADDR_CID_LOCAL = 1;
const O_RDONLY = 0;
const O_CLOEXEC = 0o2000000;
const EINPROGRESS = 115;
const SOL_SOCKET = 1;
const SO_ERROR = 4;
const POLLOUT = 4;
/** _IO(7, 0xb9) from linux/vm_sockets.h, on /dev/vsock. */
const IOCTL_VM_SOCKETS_GET_LOCAL_CID = 0x7b9;

interface AsyncCall<A extends unknown[]> {
  async: (...args: [...A, (err: unknown, result: number) => void]) => void;
}

interface Libc {
  socket: (domain: number, type: number, protocol: number) => number;
  bind: (fd: number, addr: Buffer, len: number) => number;
  listen: (fd: number, backlog: number) => number;
  connect: (fd: number, addr: Buffer, len: number) => number;
  /** struct pollfd[1] as 8 bytes: int fd · short events · short revents */
  poll: AsyncCall<[Buffer, number, number]>;
  getsockopt: (fd: number, level: number, name: number, value: Buffer, len: Buffer) => number;
  open: (path: string, flags: number) => number;
  ioctl: (fd: number, request: number, arg: Buffer) => number;
  close: (fd: number) => number;
  strerror: (errnum: number) => string;
}

let libc: Libc | undefined;
function loadLibc(): Libc {
  if (libc) return libc;
  let lib;
  try {
    lib = koffi.load('libc.so.6');
  } catch (e) {
    throw new KubeSgxError('QGS_VSOCK_UNAVAILABLE', `vsock needs glibc's libc.so.6: ${(e as Error).message}`, { cause: e });
  }
  libc = {
    socket: lib.func('int socket(int domain, int type, int protocol)') as Libc['socket'],
    bind: lib.func('int bind(int fd, const uint8_t *addr, uint32_t addrlen)') as Libc['bind'],
    listen: lib.func('int listen(int fd, int backlog)') as Libc['listen'],
    connect: lib.func('int connect(int fd, const uint8_t *addr, uint32_t addrlen)') as Libc['connect'],
    poll: lib.func('int poll(uint8_t *fds, unsigned long nfds, int timeout)') as Libc['poll'],
    getsockopt: lib.func('int getsockopt(int fd, int level, int name, uint8_t *value, uint8_t *len)') as Libc['getsockopt'],
    open: lib.func('int open(const char *path, int flags)') as Libc['open'],
    ioctl: lib.func('int ioctl(int fd, unsigned long request, uint8_t *arg)') as Libc['ioctl'],
    close: lib.func('int close(int fd)') as Libc['close'],
    strerror: lib.func('const char *strerror(int errnum)') as Libc['strerror'],
  };
  return libc;
}

interface PipeHandle {
  open(fd: number): number;
  listen(backlog: number): number;
  close(cb?: () => void): void;
  onconnection: ((status: number, client: unknown) => void) | null;
}
interface PipeWrap {
  Pipe: new (type: number) => PipeHandle;
  constants: { SERVER: number; SOCKET: number };
}

function pipeWrap(): PipeWrap {
  return (process as unknown as { binding(name: string): PipeWrap }).binding('pipe_wrap');
}

export interface VsockListener {
  readonly port: number | undefined;
  close(): Promise<void>;
}

function sysError(op: string, extra: Record<string, unknown>, errno = koffi.errno(), code: 'QGS_VSOCK_UNAVAILABLE' | 'QGS_UNAVAILABLE' = 'QGS_VSOCK_UNAVAILABLE'): KubeSgxError {
  const c = loadLibc();
  return new KubeSgxError(code, `${op}: ${c.strerror(errno)} (errno ${errno})`, { details: { errno, ...extra } });
}

/** struct sockaddr_vm: u16 family · u16 reserved1 · u32 port · u32 cid · u8 flags · u8 zero[3] */
function vsockAddress(cid: number, port: number): Buffer {
  const addr = Buffer.alloc(16);
  addr.writeUInt16LE(AF_VSOCK, 0);
  addr.writeUInt32LE(port, 4);
  addr.writeUInt32LE(cid, 8);
  return addr;
}

/** struct sockaddr_un with a path of at most 107 bytes. */
function unixAddress(path: string): Buffer {
  const p = Buffer.from(path, 'utf8');
  if (p.length >= 108) throw new KubeSgxError('QGS_BAD_ARGUMENT', `unix socket path longer than 107 bytes: ${path}`);
  const addr = Buffer.alloc(2 + 108);
  addr.writeUInt16LE(AF_UNIX, 0);
  p.copy(addr, 2);
  return addr;
}

function checkPort(port: number, path: string): void {
  if (!Number.isInteger(port) || port < 1 || port > 0xffffffff) throw new KubeSgxError('QGS_BAD_ARGUMENT', `vsock port ${port} is not a u32 above 0`, { path: [path] });
}

/** Makes a listening socket of `family` bound to `addr`; returns its descriptor. */
function listeningSocket(family: number, addr: Buffer, backlog: number, what: Record<string, unknown>): number {
  const c = loadLibc();
  const fd = c.socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw sysError('socket', what);
  if (c.bind(fd, addr, addr.length) !== 0) {
    const err = sysError('bind', what);
    c.close(fd);
    throw err;
  }
  if (c.listen(fd, backlog) !== 0) {
    const err = sysError('listen', what);
    c.close(fd);
    throw err;
  }
  return fd;
}

/** Serves `handler` on a listening stream-socket descriptor through libuv (the descriptor is owned from here on). */
export function serveListeningFd(fd: number, handler: QgsConnectionHandler, opts: { maxConnections?: number; backlog?: number; port?: number } = {}): VsockListener {
  const { Pipe, constants } = pipeWrap();
  const server = new Pipe(constants.SERVER);
  const max = opts.maxConnections ?? 1024;
  let open = 0;
  const rcOpen = server.open(fd);
  if (rcOpen !== 0) {
    loadLibc().close(fd);
    throw new KubeSgxError('QGS_VSOCK_UNAVAILABLE', `libuv cannot open the listening socket (uv error ${rcOpen})`);
  }
  server.onconnection = (status, client) => {
    if (status < 0 || !client) return;
    const socket = new Socket({ handle: client, allowHalfOpen: true } as unknown as ConstructorParameters<typeof Socket>[0]);
    if (open >= max) {
      socket.destroy();
      return;
    }
    open++;
    socket.on('close', () => open--);
    handler.handle(socket, 'vsock');
  };
  const rcListen = server.listen(opts.backlog ?? 511);
  if (rcListen !== 0) {
    server.close();
    throw new KubeSgxError('QGS_VSOCK_UNAVAILABLE', `libuv cannot listen on the socket (uv error ${rcListen})`);
  }
  return {
    port: opts.port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * Listens on AF_VSOCK `port` (any CID). Throws QGS_VSOCK_UNAVAILABLE with the
 * errno when the kernel has no vsock (EAFNOSUPPORT), the port is taken, etc.
 */
export function listenVsock(port: number, handler: QgsConnectionHandler, opts: { maxConnections?: number } = {}): VsockListener {
  checkPort(port, 'vsockPort');
  const fd = listeningSocket(AF_VSOCK, vsockAddress(VMADDR_CID_ANY, port), 511, { port });
  return serveListeningFd(fd, handler, { ...opts, port });
}

/**
 * The same path on an AF_UNIX socket made by libc (not by Node): what the
 * tests use to exercise serveListeningFd where no vsock peer exists.
 */
export function listenUnixViaLibc(path: string, handler: QgsConnectionHandler, opts: { maxConnections?: number } = {}): VsockListener {
  const fd = listeningSocket(AF_UNIX, unixAddress(path), 511, { path });
  return serveListeningFd(fd, handler, opts);
}

/** poll() for POLLOUT on a libuv worker thread (connect may take the transport's round trip): the number of ready descriptors, 0 on timeout. */
function pollWritable(fd: number, timeoutMs: number): Promise<number> {
  const pfd = Buffer.alloc(8);
  pfd.writeInt32LE(fd, 0);
  pfd.writeInt16LE(POLLOUT, 4);
  return new Promise((resolve, reject) => {
    loadLibc().poll.async(pfd, 1, timeoutMs, (err, n) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(n)));
  });
}

/** The pending error of a socket (SO_ERROR): 0 once a non-blocking connect succeeded. */
function socketError(fd: number): number {
  const value = Buffer.alloc(4);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(4);
  if (loadLibc().getsockopt(fd, SOL_SOCKET, SO_ERROR, value, len) !== 0) return koffi.errno();
  return value.readInt32LE(0);
}

/** Wraps a connected stream descriptor as a net.Socket (the descriptor is owned from here on). */
function socketOnFd(fd: number): Socket {
  const { Pipe, constants } = pipeWrap();
  const handle = new Pipe(constants.SOCKET);
  const rc = handle.open(fd);
  if (rc !== 0) {
    loadLibc().close(fd);
    throw new KubeSgxError('QGS_UNAVAILABLE', `libuv cannot open the connected socket (uv error ${rc})`);
  }
  return new Socket({ handle, readable: true, writable: true } as unknown as ConstructorParameters<typeof Socket>[0]);
}

/** Connects a stream socket of `family` to `addr` without blocking the event loop; QGS_UNAVAILABLE with the errno when refused or timed out. */
async function connectedSocket(family: number, addr: Buffer, timeoutMs: number, what: Record<string, unknown>): Promise<Socket> {
  const c = loadLibc();
  const fd = c.socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw sysError('socket', what);
  try {
    if (c.connect(fd, addr, addr.length) !== 0) {
      const errno = koffi.errno();
      // EINPROGRESS: under way (vsock, TCP). AF_UNIX never is: it connects at once or fails (EAGAIN: backlog full).
      if (errno !== EINPROGRESS) throw sysError('connect', what, errno, 'QGS_UNAVAILABLE');
      if ((await pollWritable(fd, timeoutMs)) === 0) throw new KubeSgxError('QGS_TIMEOUT', `connect: no answer within ${timeoutMs} ms`, { details: what });
      const pending = socketError(fd);
      if (pending !== 0) throw sysError('connect', what, pending, 'QGS_UNAVAILABLE');
    }
  } catch (e) {
    c.close(fd);
    throw e;
  }
  return socketOnFd(fd);
}

/**
 * Connects to AF_VSOCK `cid`:`port`. Where the kernel has no vsock_loopback,
 * CIDs 0-2 (and any CID without a host-side transport) go to the host
 * through the guest's transport, so check `vsockLoopback()` before connecting
 * to this machine's own CIDs.
 */
export function connectVsock(cid: number, port: number, opts: { timeoutMs?: number } = {}): Promise<Socket> {
  checkPort(port, 'port');
  if (!Number.isInteger(cid) || cid < 0 || cid >= VMADDR_CID_ANY) throw new KubeSgxError('QGS_BAD_ARGUMENT', `vsock CID ${cid} is not a u32 below 0xffffffff`, { path: ['cid'] });
  return connectedSocket(AF_VSOCK, vsockAddress(cid, port), opts.timeoutMs ?? 5000, { cid, port });
}

/** The same connect path on an AF_UNIX socket made by libc: what the tests use where no vsock peer exists. */
export function connectUnixViaLibc(path: string, opts: { timeoutMs?: number } = {}): Promise<Socket> {
  return connectedSocket(AF_UNIX, unixAddress(path), opts.timeoutMs ?? 5000, { path });
}

/** This machine's own CID (IOCTL_VM_SOCKETS_GET_LOCAL_CID on /dev/vsock), or undefined when /dev/vsock cannot be opened. */
export function localVsockCid(): number | undefined {
  const c = loadLibc();
  const fd = c.open('/dev/vsock', O_RDONLY | O_CLOEXEC);
  if (fd < 0) return undefined;
  try {
    const cid = Buffer.alloc(4);
    return c.ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, cid) === 0 ? cid.readUInt32LE(0) : undefined;
  } finally {
    c.close(fd);
  }
}

/** CONFIG_VSOCKETS_LOOPBACK from /proc/config.gz: 'y', 'm', 'n' (not set), or undefined when the file is absent or unreadable. */
function kernelConfigLoopback(): 'y' | 'm' | 'n' | undefined {
  let text: string;
  try {
    text = gunzipSync(readFileSync('/proc/config.gz')).toString('latin1');
  } catch {
    return undefined;
  }
  const m = /^CONFIG_VSOCKETS_LOOPBACK=([ym])$/m.exec(text);
  return m ? (m[1] as 'y' | 'm') : 'n';
}

/**
 * Whether the kernel has the vsock loopback transport, from what it says
 * about itself without sending anything: the vsock_loopback module in
 * /sys/module, its symbols in /proc/kallsyms (built in), or
 * CONFIG_VSOCKETS_LOOPBACK in /proc/config.gz. Without it a connection to
 * CID 1 or the local CID is not looped back but handed to the guest-to-host
 * transport, so callers must not connect when this says no.
 */
export function vsockLoopback(): { available: true; evidence: string } | { available: false; reason: string } {
  let protocols = '';
  try {
    protocols = readFileSync('/proc/net/protocols', 'latin1');
  } catch {
    /* not Linux, or no procfs */
  }
  if (!/^AF_VSOCK\b/m.test(protocols)) return { available: false, reason: 'the kernel has no AF_VSOCK (not in /proc/net/protocols)' };
  if (existsSync('/sys/module/vsock_loopback')) return { available: true, evidence: '/sys/module/vsock_loopback' };
  let kallsyms: string | undefined;
  try {
    kallsyms = readFileSync('/proc/kallsyms', 'latin1');
  } catch {
    /* not readable here */
  }
  if (kallsyms !== undefined && /\svsock_loopback_\w+/.test(kallsyms)) return { available: true, evidence: 'vsock_loopback_* in /proc/kallsyms' };
  const config = kernelConfigLoopback();
  if (config === 'n') return { available: false, reason: 'the kernel is built without vsock loopback (CONFIG_VSOCKETS_LOOPBACK is not set in /proc/config.gz)' };
  if (config === 'm') return { available: false, reason: 'vsock_loopback is a module (CONFIG_VSOCKETS_LOOPBACK=m) that is not loaded' };
  if (kallsyms !== undefined && /\svsock_\w+/.test(kallsyms)) {
    return { available: false, reason: 'the kernel has AF_VSOCK but no vsock_loopback transport (no vsock_loopback module in /sys/module, no vsock_loopback_* symbol in /proc/kallsyms)' };
  }
  return { available: false, reason: 'cannot tell whether the kernel has vsock_loopback (/proc/kallsyms unreadable, no /proc/config.gz, no vsock_loopback module loaded)' };
}
