/**
 * Registration and kubelet-restart handling for a set of plugin servers.
 *
 * Start-up: every server serves first, then registers with the kubelet
 * (the kubelet dials the plugin inside its Register call). After that one
 * reconcile loop, woken by fs.watch on the kubelet directory and by a short
 * poll, keeps the world right:
 *  - a plugin socket that vanished (the kubelet deletes them when it
 *    restarts) is re-created, and the plugin registers again;
 *  - a kubelet.sock that appeared or changed identity (missing → present,
 *    or another inode/ctime) means a new kubelet: every plugin registers again;
 *  - failed registrations retry with backoff (250 ms doubling to 5 s).
 * Never more than one reconcile runs at a time.
 */
import { watch, type FSWatcher } from 'node:fs';
import { mkdir, lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { credentials, type Client } from '@grpc/grpc-js';
import { toKubeSgxError, KubeSgxError } from '../errors.js';
import { silentLogger, type Logger } from '../ops/log.js';
import { DEVICE_PLUGIN_API_VERSION, deviceApi, type RegisterRequestMsg } from './api.js';
import type { DevicePlugin } from './plugin.js';
import { DevicePluginServer, type DevicePluginServerHooks } from './server.js';

export const DEFAULT_KUBELET_DIR = '/var/lib/kubelet/device-plugins';
export const KUBELET_SOCKET = 'kubelet.sock';

export type RegistrationState = 'unregistered' | 'registering' | 'registered' | 'failed';

export interface PluginRegistrationStatus {
  resource: string;
  socket: string;
  state: RegistrationState;
  registrations: number;
  lastError?: string;
  streams: number;
  devices: number;
  messageBytes: number;
}

export interface DevicePluginManagerHooks extends DevicePluginServerHooks {
  onRegistration?(resource: string, state: RegistrationState): void;
  onKubeletRestart?(): void;
}

/** What the manager needs of one plugin's server (DevicePluginServer is the real one). */
export interface PluginServer {
  readonly plugin: DevicePlugin;
  readonly socketPath: string;
  readonly streamCount: number;
  readonly inventoryDevices: number;
  readonly inventoryHealthy: number;
  readonly inventoryBytes: number;
  /** Re-reads the plugin's inventory and pushes it when it changed. */
  refresh(): boolean;
  start(): Promise<void>;
  stop(): Promise<void>;
  restart(): Promise<void>;
  /** False once the socket file it bound is gone or replaced. */
  socketIntact(): Promise<boolean>;
}

/**
 * Makes the server for one plugin. Injectable so tests can drive the
 * registration and restart logic with servers that fail on cue (as Intel's
 * pkg/deviceplugin/manager.go does with its devicePluginServer factory).
 */
export type DevicePluginServerFactory = (plugin: DevicePlugin, kubeletDir: string, logger: Logger, hooks: DevicePluginServerHooks) => PluginServer;

const defaultServerFactory: DevicePluginServerFactory = (plugin, dir, logger, hooks) => new DevicePluginServer(plugin, dir, logger, hooks);

export interface DevicePluginManagerOptions {
  kubeletDir?: string;
  logger?: Logger;
  /** Poll period for socket checks (fs.watch is the fast path). Default 250 ms. */
  pollMs?: number;
  /** Deadline for one Register call; the kubelet dials back inside it (10 s). Default 15 s. */
  registerTimeoutMs?: number;
  hooks?: DevicePluginManagerHooks;
  /** Default: a DevicePluginServer (gRPC on a unix socket in kubeletDir). */
  serverFactory?: DevicePluginServerFactory;
}

interface Entry {
  server: PluginServer;
  state: RegistrationState;
  needsRegister: boolean;
  registrations: number;
  lastError?: string;
  retryAt: number;
  backoffMs: number;
}

export class DevicePluginManager {
  readonly kubeletDir: string;
  private readonly entries: Entry[];
  private readonly log: Logger;
  private readonly pollMs: number;
  private readonly registerTimeoutMs: number;
  private readonly hooks: DevicePluginManagerHooks;
  private watcher: FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private kickTimer: NodeJS.Timeout | null = null;
  private kubeletIdentity: string | null = null;
  private running = false;
  private busy: Promise<void> | null = null;
  private again = false;
  /** In-flight Register calls, cancelled by stop() so shutdown never waits for a hung kubelet. */
  private readonly inflight = new Set<{ cancel(): void }>();
  kubeletRestarts = 0;

  constructor(plugins: readonly DevicePlugin[], opts: DevicePluginManagerOptions = {}) {
    this.kubeletDir = opts.kubeletDir ?? DEFAULT_KUBELET_DIR;
    this.log = opts.logger ?? silentLogger;
    this.pollMs = opts.pollMs ?? 250;
    this.registerTimeoutMs = opts.registerTimeoutMs ?? 15000;
    this.hooks = opts.hooks ?? {};
    const names = new Set<string>();
    for (const p of plugins) {
      if (names.has(p.resourceName) || names.has(p.socketName)) {
        throw new KubeSgxError('DUPLICATE_PLUGIN', `two plugins share ${p.resourceName} / ${p.socketName}`);
      }
      names.add(p.resourceName).add(p.socketName);
    }
    const makeServer = opts.serverFactory ?? defaultServerFactory;
    this.entries = plugins.map((p) => ({
      server: makeServer(p, this.kubeletDir, this.log, this.hooks),
      state: 'unregistered',
      needsRegister: true,
      registrations: 0,
      retryAt: 0,
      backoffMs: 250,
    }));
  }

  get servers(): PluginServer[] {
    return this.entries.map((e) => e.server);
  }

  status(): PluginRegistrationStatus[] {
    return this.entries.map((e) => ({
      resource: e.server.plugin.resourceName,
      socket: e.server.socketPath,
      state: e.state,
      registrations: e.registrations,
      ...(e.lastError ? { lastError: e.lastError } : {}),
      streams: e.server.streamCount,
      devices: e.server.inventoryDevices,
      messageBytes: e.server.inventoryBytes,
    }));
  }

  /** True when every plugin is registered with the current kubelet. */
  allRegistered(): boolean {
    return this.entries.every((e) => e.state === 'registered');
  }

  /** Serves every plugin, starts watching, and starts registering (in the background: the kubelet may be slow or not up yet). */
  async start(): Promise<void> {
    if (this.running) return;
    await mkdir(this.kubeletDir, { recursive: true });
    for (const e of this.entries) await e.server.start();
    this.running = true;
    this.kubeletIdentity = await this.kubeletSocketIdentity();
    try {
      this.watcher = watch(this.kubeletDir, () => this.kick());
      this.watcher.on('error', (err) => this.log.warn({ err: String(err) }, 'fs.watch on kubelet dir failed; polling only'));
    } catch (err) {
      this.log.warn({ err: String(err) }, 'fs.watch unavailable; polling only');
    }
    this.timer = setInterval(() => this.kick(0), this.pollMs);
    this.timer.unref();
    // Not awaited: a kubelet that is slow to answer Register must not hold up start-up.
    void this.reconcile();
  }

  /** Pushes a changed inventory of every plugin to its streams. */
  refreshAll(): void {
    for (const e of this.entries) e.server.refresh();
  }

  /** Stops watching, ends streams, stops servers and removes their sockets. */
  async stop(): Promise<void> {
    this.running = false;
    this.watcher?.close();
    this.watcher = null;
    if (this.timer) clearInterval(this.timer);
    if (this.kickTimer) clearTimeout(this.kickTimer);
    this.timer = this.kickTimer = null;
    for (const call of this.inflight) call.cancel();
    await this.busy?.catch(() => undefined);
    for (const e of this.entries) {
      await e.server.stop();
      e.state = 'unregistered';
    }
  }

  /** Schedules a reconcile soon (debounced: a kubelet restart is a burst of fs events). */
  private kick(delayMs = 20): void {
    if (!this.running) return;
    if (delayMs === 0) {
      void this.reconcile();
      return;
    }
    if (this.kickTimer) return;
    this.kickTimer = setTimeout(() => {
      this.kickTimer = null;
      void this.reconcile();
    }, delayMs);
  }

  private async kubeletSocketIdentity(): Promise<string | null> {
    try {
      const st = await lstat(join(this.kubeletDir, KUBELET_SOCKET));
      return `${st.ino}:${st.ctimeMs}:${st.birthtimeMs}`;
    } catch {
      return null;
    }
  }

  /** One pass; concurrent callers share it, and a call during a pass schedules one more. */
  reconcile(): Promise<void> {
    if (this.busy) {
      this.again = true;
      return this.busy;
    }
    this.busy = (async () => {
      do {
        this.again = false;
        await this.reconcileOnce().catch((e: unknown) => this.log.error({ err: toKubeSgxError(e).toJSON() }, 'reconcile failed'));
      } while (this.again && this.running);
    })().finally(() => {
      this.busy = null;
    });
    return this.busy;
  }

  private async reconcileOnce(): Promise<void> {
    if (!this.running) return;
    // 1. our own sockets
    for (const e of this.entries) {
      if (!(await e.server.socketIntact())) {
        this.log.warn({ resource: e.server.plugin.resourceName, socket: e.server.socketPath }, 'plugin socket gone; re-creating it');
        await e.server.restart();
        this.setState(e, 'unregistered');
        e.needsRegister = true;
        e.retryAt = 0;
      }
    }
    // 2. the kubelet's socket
    const id = await this.kubeletSocketIdentity();
    if (id !== this.kubeletIdentity) {
      if (id !== null) {
        if (this.kubeletIdentity !== null || this.entries.some((e) => e.registrations > 0)) {
          this.kubeletRestarts++;
          this.hooks.onKubeletRestart?.();
          this.log.warn({ restarts: this.kubeletRestarts }, 'kubelet restarted (kubelet.sock re-created); registering again');
        }
        for (const e of this.entries) {
          e.needsRegister = true;
          e.retryAt = 0;
          e.backoffMs = 250;
        }
      } else {
        this.log.warn('kubelet.sock disappeared; waiting for the kubelet');
        for (const e of this.entries) if (e.state === 'registered') this.setState(e, 'unregistered');
      }
      this.kubeletIdentity = id;
    }
    if (id === null) return;
    // 3. registrations due
    const now = Date.now();
    await Promise.all(
      this.entries.filter((e) => e.needsRegister && e.retryAt <= now).map((e) => this.register(e)),
    );
  }

  private setState(e: Entry, state: RegistrationState): void {
    if (e.state === state) return;
    e.state = state;
    this.hooks.onRegistration?.(e.server.plugin.resourceName, state);
  }

  private async register(e: Entry): Promise<void> {
    const plugin = e.server.plugin;
    this.setState(e, 'registering');
    const req: RegisterRequestMsg = {
      version: DEVICE_PLUGIN_API_VERSION,
      endpoint: plugin.socketName,
      resource_name: plugin.resourceName,
      options: { pre_start_required: false, get_preferred_allocation_available: plugin.preferredAllocationAvailable },
    };
    const { RegistrationClient } = deviceApi();
    // A private subchannel pool: a shared one may still carry the backoff of the previous kubelet's socket.
    const client: Client = new RegistrationClient('unix:' + join(this.kubeletDir, KUBELET_SOCKET), credentials.createInsecure(), {
      'grpc.use_local_subchannel_pool': 1,
    });
    try {
      await new Promise<void>((resolve, reject) => {
        const method = (client as unknown as Record<string, (r: unknown, o: object, cb: (err: Error | null) => void) => { cancel(): void }>).Register;
        const call = method.call(client, req, { deadline: Date.now() + this.registerTimeoutMs }, (err) => {
          this.inflight.delete(call);
          if (err) reject(err);
          else resolve();
        });
        this.inflight.add(call);
      });
      e.needsRegister = false;
      e.registrations++;
      e.backoffMs = 250;
      delete e.lastError;
      this.setState(e, 'registered');
      this.log.info({ resource: plugin.resourceName, endpoint: plugin.socketName }, 'registered with kubelet');
    } catch (err) {
      e.lastError = err instanceof Error ? err.message : String(err);
      e.retryAt = Date.now() + e.backoffMs;
      e.backoffMs = Math.min(e.backoffMs * 2, 5000);
      this.setState(e, 'failed');
      this.log.warn({ resource: plugin.resourceName, err: e.lastError }, 'registration failed; will retry');
    } finally {
      client.close();
    }
  }
}
