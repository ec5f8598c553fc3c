/**
 * The start-up and stop shape of every long-running component (quote helper,
 * QGS, webhook, node agent): what it opens is closed in reverse order, at
 * stop() or as soon as a later start-up step fails; the optional ops
 * endpoint; for a component with a backend, one log line saying which backend
 * serves and a warning when that backend is simulated; a stop() that runs
 * once.
 */
import { KubeSgxError, toKubeSgxError, type ErrorCode } from '../errors.js';
import type { HealthSource } from './health.js';
import type { Logger } from './log.js';
import { startOpsServer, type OpsServer } from './server.js';

/**
 * How a --metrics-addr that cannot be bound is reported: an error code (the
 * message "cannot serve --metrics-addr ADDR: why", path metricsAddr), or the
 * component's own error made from the address and the listener's error
 * (LISTEN_FAILED or LISTEN_ADDRESS_INVALID, naming --metrics-addr).
 */
export type OpsBindError = ErrorCode | ((addr: string, listenError: KubeSgxError) => KubeSgxError);

/** What the start log needs to know of a backend. */
export interface AnnouncedBackend {
  readonly name: string;
  readonly simulated: boolean;
  describe(): Record<string, unknown>;
}

export class ComponentLifecycle {
  private readonly closers: (() => Promise<void>)[] = [];
  private stopped = false;

  /** `component` names it in the log lines ("quote helper", "QGS"). */
  constructor(
    private readonly log: Logger,
    private readonly component: string,
  ) {}

  /** Registers something to close at stop(), or when a later start-up step fails. */
  closeOnStop(close: () => Promise<void>): void {
    this.closers.push(close);
  }

  /** Runs start-up steps; when one throws, everything registered so far is closed and the error rethrown. */
  async starting<T>(steps: () => Promise<T>): Promise<T> {
    try {
      return await steps();
    } catch (e) {
      await this.closeAll();
      throw e;
    }
  }

  /** The ops endpoint on `addr` (none when undefined), closed at stop(); a failure to bind is reported as `bindError` says. */
  async serveOps(addr: string | undefined, health: HealthSource, bindError: OpsBindError): Promise<OpsServer | undefined> {
    if (addr === undefined) return undefined;
    let ops: OpsServer;
    try {
      ops = await startOpsServer({ listen: addr, ...health });
    } catch (e) {
      if (typeof bindError === 'function') throw bindError(addr, toKubeSgxError(e));
      throw new KubeSgxError(bindError, `cannot serve --metrics-addr ${addr}: ${(e as Error).message}`, { cause: e, path: ['metricsAddr'] });
    }
    this.closeOnStop(() => ops.close());
    return ops;
  }

  /** "<component> serving with the <backend> backend", with `facts` and the backend's own; then `simulatedWarning` when the backend is simulated. */
  announce(backend: AnnouncedBackend, facts: Record<string, unknown>, simulatedWarning: string): void {
    this.log.info({ ...facts, ...backend.describe() }, `${this.component} serving with the ${backend.name} backend`);
    if (backend.simulated) this.log.warn({ backend: backend.name }, simulatedWarning);
  }

  /** A stop() that closes everything once, last opened first, then logs "<component> stopped" with `facts`. */
  stopper(facts: Record<string, unknown>): () => Promise<void> {
    return async () => {
      if (this.stopped) return;
      this.stopped = true;
      await this.closeAll();
      this.log.info(facts, `${this.component} stopped`);
    };
  }

  /** A failure to close one thing must not leave the others open. */
  private async closeAll(): Promise<void> {
    for (const close of this.closers.splice(0).reverse()) {
      await close().catch((e: unknown) => this.log.warn({ err: e instanceof Error ? e.message : String(e) }, `${this.component}: closing failed`));
    }
  }
}
