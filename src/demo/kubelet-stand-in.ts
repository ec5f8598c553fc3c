/**
 * A kubelet stand-in written from the published device plugin API: it
 * serves `v1beta1.Registration` on `kubelet.sock` in a directory and, like
 * the kubelet's device manager, inside each Register call checks the version
 * and resource name, dials the plugin's socket (default 4 MiB receive limit,
 * as the kubelet has), asks GetDevicePluginOptions, then runs ListAndWatch in
 * the background, keeping the latest device set per resource. Tests and the
 * demo use it to call Allocate / GetPreferredAllocation as the kubelet would
 * at pod admission, and `restart()` does what a kubelet restart does to the
 * directory: plugin sockets and kubelet.sock deleted, a new kubelet.sock.
 */
import { readdir, unlink, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  Client,
  Server,
  ServerCredentials,
  credentials,
  status as GrpcStatus,
  type ClientReadableStream,
  type MethodDefinition,
  type ServerUnaryCall,
  type sendUnaryData,
} from '@grpc/grpc-js';
import { KubeSgxError } from '../errors.js';
import {
  DEVICE_PLUGIN_API_VERSION,
  HEALTHY,
  deviceApi,
  type AllocateResponseMsg,
  type DeviceMsg,
  type DevicePluginOptionsMsg,
  type ListAndWatchResponseMsg,
  type PreferredAllocationResponseMsg,
  type RegisterRequestMsg,
} from '../deviceplugin/api.js';

export interface StandInRegistration {
  resourceName: string;
  endpoint: string;
  version: string;
  options: DevicePluginOptionsMsg;
  at: number;
}

export interface StandInResource {
  resourceName: string;
  endpoint: string;
  options: DevicePluginOptionsMsg;
  /** Latest device set (each ListAndWatch message replaces it). */
  devices: DeviceMsg[];
  healthy: number;
  unhealthy: number;
  /** ListAndWatch messages received on the current connection. */
  messages: number;
  /** Encoded size of the largest message received. */
  maxMessageBytes: number;
  /** Milliseconds from Register to the first ListAndWatch message. */
  firstMessageMs?: number;
  /** Set when the stream ended (the kubelet then treats every device as unhealthy). */
  streamError?: string;
  connected: boolean;
}

/** Extended resource name check, as the kubelet applies it at registration. */
export function isExtendedResourceName(name: string): boolean {
  if (!name.includes('/') || name.includes('kubernetes.io/') || name.startsWith('requests.')) return false;
  const [prefix, rest, ...more] = name.split('/');
  if (more.length > 0 || !rest || rest.length > 63 || !/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(rest)) return false;
  const domain = `requests.${prefix}`;
  return domain.length <= 253 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(domain);
}

interface Connection {
  client: Client;
  stream: ClientReadableStream<ListAndWatchResponseMsg> | null;
}

export interface KubeletStandInOptions {
  /** Device-plugins directory; kubelet.sock is created in it. */
  dir: string;
}

export class KubeletStandIn {
  readonly dir: string;
  readonly socketPath: string;
  readonly registrations: StandInRegistration[] = [];
  private readonly resourcesByName = new Map<string, StandInResource>();
  private readonly connections = new Map<string, Connection>();
  private server: Server | null = null;
  private readonly waiters = new Set<() => void>();

  private constructor(opts: KubeletStandInOptions) {
    this.dir = opts.dir;
    this.socketPath = join(opts.dir, 'kubelet.sock');
  }

  static async start(opts: KubeletStandInOptions): Promise<KubeletStandIn> {
    const k = new KubeletStandIn(opts);
    await k.listen();
    return k;
  }

  private async listen(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await unlink(this.socketPath).catch(() => undefined);
    const server = new Server();
    server.addService(deviceApi().registration, {
      Register: (call: ServerUnaryCall<RegisterRequestMsg, object>, cb: sendUnaryData<object>) => {
        this.onRegister(call.request).then(
          () => cb(null, {}),
          (e: unknown) => cb({ code: GrpcStatus.UNKNOWN, details: e instanceof Error ? e.message : String(e) }),
        );
      },
    });
    await new Promise<void>((resolve, reject) =>
      server.bindAsync('unix:' + this.socketPath, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
    );
    this.server = server;
  }

  private changed(): void {
    for (const w of [...this.waiters]) w();
  }

  private method(name: string): MethodDefinition<unknown, unknown> {
    return deviceApi().devicePlugin[name] as MethodDefinition<unknown, unknown>;
  }

  private async onRegister(req: RegisterRequestMsg): Promise<void> {
    if (req.version !== DEVICE_PLUGIN_API_VERSION) {
      throw new Error(`requested API version "${req.version}" is not supported by kubelet. Supported version is ${DEVICE_PLUGIN_API_VERSION}`);
    }
    if (!isExtendedResourceName(req.resource_name)) throw new Error(`the ResourceName "${req.resource_name}" is invalid`);
    if (!req.endpoint || req.endpoint.includes('/')) throw new Error(`bad endpoint ${JSON.stringify(req.endpoint)}`);
    const registeredAt = Date.now();
    this.registrations.push({ resourceName: req.resource_name, endpoint: req.endpoint, version: req.version, options: req.options ?? {}, at: registeredAt });
    // Re-registering a name replaces the endpoint.
    this.disconnect(req.resource_name);
    const client = new Client('unix:' + join(this.dir, req.endpoint), credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    const options = await new Promise<DevicePluginOptionsMsg>((resolve, reject) => {
      const m = this.method('GetDevicePluginOptions');
      client.makeUnaryRequest(m.path, m.requestSerialize, m.responseDeserialize, {}, { deadline: Date.now() + 10000 }, (err, value) =>
        err ? reject(new Error(`failed to dial device plugin: ${err.message}`)) : resolve((value ?? {}) as DevicePluginOptionsMsg),
      );
    }).catch((e: unknown) => {
      client.close();
      throw e;
    });
    const res: StandInResource = {
      resourceName: req.resource_name,
      endpoint: req.endpoint,
      options,
      devices: [],
      healthy: 0,
      unhealthy: 0,
      messages: 0,
      maxMessageBytes: 0,
      connected: true,
    };
    this.resourcesByName.set(req.resource_name, res);
    const conn: Connection = { client, stream: null };
    this.connections.set(req.resource_name, conn);
    // ListAndWatch in the background, counting the bytes of each message.
    const m = this.method('ListAndWatch');
    let lastBytes = 0;
    const deserialize = (b: Buffer) => {
      lastBytes = b.length;
      return m.responseDeserialize(b);
    };
    const stream = client.makeServerStreamRequest(m.path, m.requestSerialize, deserialize, {}) as ClientReadableStream<ListAndWatchResponseMsg>;
    conn.stream = stream;
    stream.on('data', (msg: ListAndWatchResponseMsg) => {
      if (this.resourcesByName.get(req.resource_name) !== res) return;
      res.devices = msg.devices ?? [];
      res.healthy = res.devices.filter((d) => d.health === HEALTHY).length;
      res.unhealthy = res.devices.length - res.healthy;
      res.messages++;
      res.maxMessageBytes = Math.max(res.maxMessageBytes, lastBytes);
      res.firstMessageMs ??= Date.now() - registeredAt;
      this.changed();
    });
    const ended = (why: string) => {
      if (!res.connected) return;
      res.connected = false;
      res.streamError = why;
      // The kubelet marks every device of a disconnected plugin unhealthy.
      res.unhealthy = res.devices.length;
      res.healthy = 0;
      this.changed();
    };
    stream.on('error', (e: Error) => ended(e.message));
    stream.on('end', () => ended('stream ended'));
    this.changed();
  }

  private disconnect(resource: string): void {
    const conn = this.connections.get(resource);
    if (!conn) return;
    this.connections.delete(resource);
    conn.stream?.cancel();
    conn.client.close();
  }

  resource(name: string): StandInResource | undefined {
    return this.resourcesByName.get(name);
  }

  registrationCount(resource: string): number {
    return this.registrations.filter((r) => r.resourceName === resource).length;
  }

  /** Resolves when `pred()` holds (re-checked on every registration and message), or rejects after `timeoutMs`. */
  waitFor(pred: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!pred()) return;
        cleanup();
        resolve();
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new KubeSgxError('TIMEOUT', `kubelet stand-in: timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
    });
  }

  private unary<T>(resource: string, method: string, request: unknown): Promise<T> {
    const conn = this.connections.get(resource);
    if (!conn) return Promise.reject(new KubeSgxError('NOT_REGISTERED', `no device plugin registered for ${resource}`));
    const m = this.method(method);
    return new Promise<T>((resolve, reject) => {
      conn.client.makeUnaryRequest(m.path, m.requestSerialize, m.responseDeserialize, request, { deadline: Date.now() + 10000 }, (err, value) =>
        err ? reject(err) : resolve(value as T),
      );
    });
  }

  /** What the kubelet does at pod admission for one container: one Allocate with the chosen IDs. */
  allocate(resource: string, ids: string[]): Promise<AllocateResponseMsg> {
    return this.unary(resource, 'Allocate', { container_requests: [{ devices_ids: ids }] });
  }

  /** Sends any request object as Allocate (for malformed-request tests). */
  allocateRaw(resource: string, request: unknown): Promise<AllocateResponseMsg> {
    return this.unary(resource, 'Allocate', request);
  }

  preferredAllocation(resource: string, available: string[], mustInclude: string[], size: number): Promise<PreferredAllocationResponseMsg> {
    return this.unary(resource, 'GetPreferredAllocation', {
      container_requests: [{ available_deviceIDs: available, must_include_deviceIDs: mustInclude, allocation_size: size }],
    });
  }

  /**
   * A kubelet restart: connections dropped, every socket file in the
   * directory deleted (as current kubelets do), a new kubelet.sock served.
   */
  async restart(opts: { deletePluginSockets?: boolean } = {}): Promise<void> {
    await this.shutdown(opts.deletePluginSockets ?? true);
    await this.listen();
  }

  private async shutdown(deletePluginSockets: boolean): Promise<void> {
    for (const name of [...this.connections.keys()]) this.disconnect(name);
    for (const r of this.resourcesByName.values()) r.connected = false;
    const server = this.server;
    this.server = null;
    if (server) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 500);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    await unlink(this.socketPath).catch(() => undefined);
    if (deletePluginSockets) {
      for (const f of await readdir(this.dir).catch(() => [] as string[])) {
        if (f.endsWith('.sock')) await unlink(join(this.dir, f)).catch(() => undefined);
      }
    }
  }

  async stop(): Promise<void> {
    await this.shutdown(false);
    this.changed();
  }
}
