/**
 * Structured logs (pino, JSON lines on stderr so stdout stays free for
 * command output). `LOG_LEVEL` sets the level; tests default to silent.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(component: string, level?: string): Logger {
  const lvl = level ?? process.env.LOG_LEVEL ?? (process.env.NODE_TEST_CONTEXT ? 'silent' : 'info');
  return pino({ name: component, level: lvl, base: { component } }, pino.destination(2));
}

/** A logger that writes nothing: for library callers that pass none. */
export const silentLogger: Logger = pino({ level: 'silent' });
