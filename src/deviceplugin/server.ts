/**
 * One device plugin's gRPC server on its unix socket. It keeps the encoded
 * inventory (re-encoded only when `refresh()` sees a change), streams it to
 * every ListAndWatch caller, and turns plugin errors into gRPC statuses.
 * The ListAndWatch stream is fed pre-encoded bytes (its serializer is the
 * identity), so the first message costs a socket write, not an encode.
 */
import { lstat, mkdir, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  Server,
  ServerCredentials,
  status as GrpcStatus,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceDefinition,
  type sendUnaryData,
  type ServiceError,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { KubeSgxError, toKubeSgxError } from '../errors.js';
import { silentLogger, type Logger } from '../ops/log.js';
import {
  deviceApi,
  encodeListAndWatchResponse,
  KUBELET_MAX_RECV_BYTES,
  type AllocateRequestMsg,
  type AllocateResponseMsg,
  type DevicePluginOptionsMsg,
  type PreferredAllocationRequestMsg,
  type PreferredAllocationResponseMsg,
} from './api.js';
import { PLUGIN_ERROR_STATUS, type DevicePlugin } from './plugin.js';
import { decodeAllocateRequest, decodePreferredAllocationRequest } from './wire.js';

export interface DevicePluginServerHooks {
  onListAndWatchSent?(resource: string, bytes: number, devices: number): void;
  onAllocate?(resource: string, units: number, ok: boolean): void;
}

/** Service definition with the fast paths: pre-encoded ListAndWatch, hand-decoded ID lists. */
let passThroughDef: ServiceDefinition | undefined;
function devicePluginServiceDef(): ServiceDefinition {
  if (passThroughDef) return passThroughDef;
  const base = deviceApi().devicePlugin;
  const def: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(base)) {
    if (name === 'ListAndWatch') def[name] = { ...method, responseSerialize: (b: Buffer) => b };
    else if (name === 'Allocate') def[name] = { ...method, requestDeserialize: decodeAllocateRequest };
    else if (name === 'GetPreferredAllocation') def[name] = { ...method, requestDeserialize: decodePreferredAllocationRequest };
    else def[name] = method;
  }
  passThroughDef = def as ServiceDefinition;
  return passThroughDef;
}

function grpcError(e: unknown): Partial<ServiceError> {
  const err = toKubeSgxError(e);
  const code = PLUGIN_ERROR_STATUS[err.code];
  return {
    code: code === 'INVALID_ARGUMENT' ? GrpcStatus.INVALID_ARGUMENT : code === 'FAILED_PRECONDITION' ? GrpcStatus.FAILED_PRECONDITION : GrpcStatus.INTERNAL,
    details: `${err.code}: ${err.message}`,
  };
}

function stringList(v: unknown, path: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) {
    throw new KubeSgxError('INVALID_REQUEST', `${path}: expected a list of strings`, { path: [path] });
  }
  return v as string[];
}

export class DevicePluginServer {
  readonly socketPath: string;
  private server: Server | null = null;
  private socketIno = -1;
  private encoded: Buffer = Buffer.alloc(0);
  private deviceCount = 0;
  private healthyCount = 0;
  private lastDevices: readonly unknown[] | null = null;
  private readonly streams = new Set<ServerWritableStream<unknown, Buffer>>();

  constructor(
    readonly plugin: DevicePlugin,
    dir: string,
    private readonly log: Logger = silentLogger,
    private readonly hooks: DevicePluginServerHooks = {},
  ) {
    this.socketPath = join(dir, plugin.socketName);
    this.refresh();
  }

  get running(): boolean {
    return this.server !== null;
  }

  get streamCount(): number {
    return this.streams.size;
  }

  get inventoryBytes(): number {
    return this.encoded.length;
  }

  get inventoryDevices(): number {
    return this.deviceCount;
  }

  get inventoryHealthy(): number {
    return this.healthyCount;
  }

  /** Re-reads the plugin's inventory; pushes it to every stream when it changed. Returns whether it changed. */
  refresh(): boolean {
    const devices = this.plugin.devices();
    if (devices === this.lastDevices) return false; // unchanged (plugins return the same array)
    this.lastDevices = devices;
    const next = encodeListAndWatchResponse(devices);
    if (next.length >= KUBELET_MAX_RECV_BYTES) {
      // A plugin must cap itself (see epc-layout.ts); sending this would break the kubelet's stream.
      this.log.error({ resource: this.plugin.resourceName, bytes: next.length }, 'inventory message exceeds the kubelet limit; not sent');
      return false;
    }
    if (next.equals(this.encoded) && this.deviceCount === devices.length) return false;
    this.encoded = next;
    this.deviceCount = devices.length;
    this.healthyCount = devices.reduce((n, d) => n + (d.healthy ? 1 : 0), 0);
    for (const s of this.streams) this.send(s);
    return true;
  }

  private send(s: ServerWritableStream<unknown, Buffer>): void {
    s.write(this.encoded);
    this.hooks.onListAndWatchSent?.(this.plugin.resourceName, this.encoded.length, this.deviceCount);
  }

  private handlers(): UntypedServiceImplementation {
    const plugin = this.plugin;
    return {
      GetDevicePluginOptions: (_call: ServerUnaryCall<unknown, DevicePluginOptionsMsg>, cb: sendUnaryData<DevicePluginOptionsMsg>) => {
        cb(null, { pre_start_required: false, get_preferred_allocation_available: plugin.preferredAllocationAvailable });
      },
      ListAndWatch: (call: ServerWritableStream<unknown, Buffer>) => {
        this.streams.add(call);
        const drop = () => this.streams.delete(call);
        call.on('cancelled', drop);
        call.on('close', drop);
        call.on('error', drop);
        this.log.info({ resource: plugin.resourceName, devices: this.deviceCount, bytes: this.encoded.length }, 'ListAndWatch opened');
        this.send(call);
      },
      Allocate: (call: ServerUnaryCall<AllocateRequestMsg, AllocateResponseMsg>, cb: sendUnaryData<AllocateResponseMsg>) => {
        let units = 0;
        try {
          const reqs = call.request.container_requests ?? [];
          if (!Array.isArray(reqs) || reqs.length === 0) {
            throw new KubeSgxError('INVALID_REQUEST', 'container_requests is empty', { path: ['container_requests'] });
          }
          const container_responses = reqs.map((r, i) => {
            const ids = stringList(r?.devices_ids, `container_requests[${i}].devices_ids`);
            units += ids.length;
            return plugin.allocate(ids);
          });
          this.hooks.onAllocate?.(plugin.resourceName, units, true);
          cb(null, { container_responses });
        } catch (e) {
          this.hooks.onAllocate?.(plugin.resourceName, units, false);
          this.log.warn({ resource: plugin.resourceName, err: toKubeSgxError(e).toJSON() }, 'Allocate rejected');
          cb(grpcError(e));
        }
      },
      GetPreferredAllocation: (call: ServerUnaryCall<PreferredAllocationRequestMsg, PreferredAllocationResponseMsg>, cb: sendUnaryData<PreferredAllocationResponseMsg>) => {
        try {
          const reqs = call.request.container_requests ?? [];
          if (!Array.isArray(reqs) || reqs.length === 0) {
            throw new KubeSgxError('INVALID_REQUEST', 'container_requests is empty', { path: ['container_requests'] });
          }
          const container_responses = reqs.map((r, i) => {
            const available = stringList(r?.available_deviceIDs, `container_requests[${i}].available_deviceIDs`);
            const must = stringList(r?.must_include_deviceIDs, `container_requests[${i}].must_include_deviceIDs`);
            const size = r?.allocation_size ?? 0;
            if (!Number.isInteger(size) || size < 0 || size > available.length + must.length) {
              throw new KubeSgxError('INVALID_REQUEST', `allocation_size ${size} is not between 0 and the ${available.length} available IDs`, {
                path: ['container_requests', i, 'allocation_size'],
              });
            }
            return { deviceIDs: plugin.preferredAllocation(available, must, size) };
          });
          cb(null, { container_responses });
        } catch (e) {
          cb(grpcError(e));
        }
      },
      PreStartContainer: (_call: ServerUnaryCall<unknown, object>, cb: sendUnaryData<object>) => cb(null, {}),
    };
  }

  /** Removes a stale socket, binds, serves. */
  async start(): Promise<void> {
    if (this.server) return;
    await mkdir(dirname(this.socketPath), { recursive: true }); // the directory itself may have been re-created
    await unlink(this.socketPath).catch(() => undefined);
    const server = new Server({ 'grpc.max_receive_message_length': 64 * 1024 * 1024 });
    server.addService(devicePluginServiceDef(), this.handlers());
    await new Promise<void>((resolve, reject) => {
      server.bindAsync('unix:' + this.socketPath, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve()));
    });
    this.server = server;
    this.socketIno = (await lstat(this.socketPath)).ino;
    this.log.info({ resource: this.plugin.resourceName, socket: this.socketPath }, 'device plugin serving');
  }

  /** True when the socket file we bound is still in place (the kubelet deletes it when it restarts). */
  async socketIntact(): Promise<boolean> {
    if (!this.server) return false;
    try {
      return (await lstat(this.socketPath)).ino === this.socketIno;
    } catch {
      return false;
    }
  }

  /** Ends the streams, stops the server (waiting for its close, which unlinks the socket), removes the socket. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    for (const s of this.streams) s.end();
    this.streams.clear();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, 1000);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    // Only remove the path if it is still our socket (a new server may own it by now).
    try {
      if ((await lstat(this.socketPath)).ino === this.socketIno) await unlink(this.socketPath);
    } catch {
      /* already gone */
    }
  }

  /** Re-creates the socket after it was deleted: full stop, then a fresh bind. */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }
}
