/**
 * The device plugin API v1beta1 as TypeScript: message shapes (field names
 * as in proto/deviceplugin/v1beta1/api.proto, loaded with keepCase), the
 * gRPC service definitions, and a hand-written encoder for
 * ListAndWatchResponse. The encoder exists for scale: the inventory is
 * encoded once per change and its exact size is known before it is sent,
 * so the plugin can keep every message under the kubelet's 4 MiB limit.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';
import { loadPackageDefinition, type ServiceDefinition, type GrpcObject, type ServiceClientConstructor } from '@grpc/grpc-js';
import { KubeSgxError } from '../errors.js';

export const DEVICE_PLUGIN_API_VERSION = 'v1beta1';
export const HEALTHY = 'Healthy';
export const UNHEALTHY = 'Unhealthy';
/** gRPC-Go's default receive limit, which the kubelet does not raise for plugin streams. */
export const KUBELET_MAX_RECV_BYTES = 4 * 1024 * 1024;

export interface DevicePluginOptionsMsg {
  pre_start_required?: boolean;
  get_preferred_allocation_available?: boolean;
}
export interface RegisterRequestMsg {
  version: string;
  endpoint: string;
  resource_name: string;
  options?: DevicePluginOptionsMsg | null;
}
export interface NumaNodeMsg {
  ID?: number;
}
export interface DeviceMsg {
  ID: string;
  health: string;
  topology?: { nodes?: NumaNodeMsg[] } | null;
}
export interface ListAndWatchResponseMsg {
  devices: DeviceMsg[];
}
export interface ContainerPreferredAllocationRequestMsg {
  available_deviceIDs?: string[];
  must_include_deviceIDs?: string[];
  allocation_size?: number;
}
export interface PreferredAllocationRequestMsg {
  container_requests?: ContainerPreferredAllocationRequestMsg[];
}
export interface PreferredAllocationResponseMsg {
  container_responses: { deviceIDs: string[] }[];
}
export interface AllocateRequestMsg {
  container_requests?: { devices_ids?: string[] }[];
}
export interface MountMsg {
  container_path: string;
  host_path: string;
  read_only?: boolean;
}
export interface DeviceSpecMsg {
  container_path: string;
  host_path: string;
  permissions: string;
}
export interface ContainerAllocateResponseMsg {
  envs: Record<string, string>;
  mounts: MountMsg[];
  devices: DeviceSpecMsg[];
  annotations: Record<string, string>;
  cdi_devices: { name: string }[];
}
export interface AllocateResponseMsg {
  container_responses: ContainerAllocateResponseMsg[];
}

/** Finds proto/deviceplugin/v1beta1/api.proto from src/ (tsx) or dist/src/ (built). */
function protoPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'proto', 'deviceplugin', 'v1beta1', 'api.proto');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new KubeSgxError('PROTO_NOT_FOUND', 'proto/deviceplugin/v1beta1/api.proto not found above ' + fileURLToPath(import.meta.url));
}

interface LoadedApi {
  devicePlugin: ServiceDefinition;
  registration: ServiceDefinition;
  DevicePluginClient: ServiceClientConstructor;
  RegistrationClient: ServiceClientConstructor;
}

let loaded: LoadedApi | undefined;

/** Loads the .proto once (keepCase, int64 as Number, absent fields left undefined). */
export function deviceApi(): LoadedApi {
  if (loaded) return loaded;
  const def = protoLoader.loadSync(protoPath(), { keepCase: true, longs: Number, enums: String, defaults: false, arrays: true, objects: true, oneofs: true });
  const pkg = loadPackageDefinition(def).v1beta1 as GrpcObject;
  const DevicePluginClient = pkg.DevicePlugin as ServiceClientConstructor;
  const RegistrationClient = pkg.Registration as ServiceClientConstructor;
  loaded = {
    devicePlugin: DevicePluginClient.service,
    registration: RegistrationClient.service,
    DevicePluginClient,
    RegistrationClient,
  };
  return loaded;
}

// ---- hand-written ListAndWatchResponse encoding -------------------------

/** One device's inventory entry; `numaNode` undefined = no topology sent. */
export interface InventoryDevice {
  id: string;
  healthy: boolean;
  numaNode?: number;
}

function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

function writeVarint(buf: Buffer, pos: number, n: number): number {
  while (n >= 0x80) {
    buf[pos++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}

const HEALTH_BYTES = { true: Buffer.from(HEALTHY), false: Buffer.from(UNHEALTHY) };

/** Encoded size of the Device sub-message body (without its own tag and length). */
function deviceBodyLength(idLen: number, healthLen: number, numa: number | undefined): number {
  let n = 1 + varintLength(idLen) + idLen + 1 + varintLength(healthLen) + healthLen;
  if (numa !== undefined) {
    // topology (3) { nodes (1) { ID (1) varint } }; NUMANode{ID:0} is an empty message.
    const numaBody = numa === 0 ? 0 : 1 + varintLength(numa);
    const topoBody = 1 + varintLength(numaBody) + numaBody;
    n += 1 + varintLength(topoBody) + topoBody;
  }
  return n;
}

/** Exact size in bytes of the encoded ListAndWatchResponse for these devices. */
export function listAndWatchEncodedLength(devices: readonly InventoryDevice[]): number {
  let total = 0;
  for (const d of devices) {
    const body = deviceBodyLength(Buffer.byteLength(d.id), d.healthy ? 7 : 9, d.numaNode);
    total += 1 + varintLength(body) + body;
  }
  return total;
}

/** Encodes a ListAndWatchResponse (proto3 wire format, field order as declared). */
export function encodeListAndWatchResponse(devices: readonly InventoryDevice[]): Buffer {
  const buf = Buffer.allocUnsafe(listAndWatchEncodedLength(devices));
  let pos = 0;
  for (const d of devices) {
    const idLen = Buffer.byteLength(d.id);
    const health = HEALTH_BYTES[d.healthy ? 'true' : 'false'];
    const body = deviceBodyLength(idLen, health.length, d.numaNode);
    buf[pos++] = 0x0a; // devices = 1, length-delimited
    pos = writeVarint(buf, pos, body);
    buf[pos++] = 0x0a; // ID = 1
    pos = writeVarint(buf, pos, idLen);
    pos += buf.write(d.id, pos, 'utf8');
    buf[pos++] = 0x12; // health = 2
    pos = writeVarint(buf, pos, health.length);
    pos += health.copy(buf, pos);
    if (d.numaNode !== undefined) {
      const numaBody = d.numaNode === 0 ? 0 : 1 + varintLength(d.numaNode);
      buf[pos++] = 0x1a; // topology = 3
      pos = writeVarint(buf, pos, 1 + varintLength(numaBody) + numaBody);
      buf[pos++] = 0x0a; // nodes = 1
      pos = writeVarint(buf, pos, numaBody);
      if (d.numaNode !== 0) {
        buf[pos++] = 0x08; // ID = 1, varint
        pos = writeVarint(buf, pos, d.numaNode);
      }
    }
  }
  if (pos !== buf.length) throw new KubeSgxError('INTERNAL', `ListAndWatch encoder wrote ${pos} of ${buf.length} bytes`);
  return buf;
}
