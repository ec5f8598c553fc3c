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
 * Limits: Linux only (libc.so.6); needs the vsock transport in the kernel
 * (vhost_vsock on a KVM host). What the tests prove: the pipe-handle path on
 * a descriptor made by koffi (test/qgs/vsock.test.ts, with an AF_UNIX socket)
 * and bind/listen on AF_VSOCK; a connection from a real guest was not
 * available to test here.
 */
import { Socket } from 'node:net';
import koffi from 'koffi';
import { KubeSgxError } from '../errors.js';
import type { QgsConnectionHandler } from './server.js';

const AF_UNIX = 1;
const AF_VSOCK = 40;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0o2000000;
const VMADDR_CID_ANY = 0xffffffff;

interface Libc {
  socket: (domain: number, type: number, protocol: number) => number;
  bind: (fd: number, addr: Buffer, len: number) => number;
  listen: (fd: number, backlog: number) => number;
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
  constants: { SERVER: number };
}

function pipeWrap(): PipeWrap {
  return (process as unknown as { binding(name: string): PipeWrap }).binding('pipe_wrap');
}

export interface VsockListener {
  readonly port: number | undefined;
  close(): Promise<void>;
}

function sysError(op: string, extra: Record<string, unknown>): KubeSgxError {
  const errno = koffi.errno();
  const c = loadLibc();
  return new KubeSgxError('QGS_VSOCK_UNAVAILABLE', `${op}: ${c.strerror(errno)} (errno ${errno})`, { details: { errno, ...extra } });
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
  if (!Number.isInteger(port) || port < 1 || port > 0xffffffff) throw new KubeSgxError('QGS_BAD_ARGUMENT', `vsock port ${port} is not a u32 above 0`, { path: ['vsockPort'] });
  // struct sockaddr_vm: u16 family · u16 reserved1 · u32 port · u32 cid · u8 flags · u8 zero[3]
  const addr = Buffer.alloc(16);
  addr.writeUInt16LE(AF_VSOCK, 0);
  addr.writeUInt32LE(port, 4);
  addr.writeUInt32LE(VMADDR_CID_ANY, 8);
  const fd = listeningSocket(AF_VSOCK, addr, 511, { port });
  return serveListeningFd(fd, handler, { ...opts, port });
}

/**
 * The same path on an AF_UNIX socket made by libc (not by Node): what the
 * tests use to exercise serveListeningFd where no vsock peer exists.
 */
export function listenUnixViaLibc(path: string, handler: QgsConnectionHandler, opts: { maxConnections?: number } = {}): VsockListener {
  const p = Buffer.from(path, 'utf8');
  if (p.length >= 108) throw new KubeSgxError('QGS_BAD_ARGUMENT', `unix socket path longer than 107 bytes: ${path}`);
  const addr = Buffer.alloc(2 + 108);
  addr.writeUInt16LE(AF_UNIX, 0);
  p.copy(addr, 2);
  const fd = listeningSocket(AF_UNIX, addr, 511, { path });
  return serveListeningFd(fd, handler, opts);
}
