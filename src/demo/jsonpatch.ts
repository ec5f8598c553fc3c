/**
 * Applies the RFC 6902 operations the webhook emits (add, replace, remove) to
 * a copy of a document, as the API server does with a mutating webhook's
 * patch. Strict: a missing parent or member is an error, never a silent skip.
 * (fast-json-patch is a dev dependency only; the demo ships in the image.)
 */
import { KubeSgxError } from '../errors.js';

export interface PatchOp {
  op: 'add' | 'remove' | 'replace';
  path: string;
  value?: unknown;
}

function unescape(segment: string): string {
  return segment.replace(/~1/g, '/').replace(/~0/g, '~');
}

function fail(op: PatchOp, why: string): never {
  throw new KubeSgxError('DEMO_PATCH_FAILED', `${op.op} ${op.path}: ${why}`);
}

export function applyJsonPatch<T>(doc: T, ops: readonly PatchOp[]): T {
  const root = structuredClone(doc) as unknown;
  for (const op of ops) {
    if (!op.path.startsWith('/')) fail(op, 'path must start with /');
    const parts = op.path.slice(1).split('/').map(unescape);
    const last = parts.pop()!;
    let parent: unknown = root;
    for (const p of parts) {
      if (Array.isArray(parent)) parent = parent[Number(p)];
      else if (parent !== null && typeof parent === 'object') parent = (parent as Record<string, unknown>)[p];
      else fail(op, `no parent at ${p}`);
      if (parent === undefined) fail(op, `no member ${p}`);
    }
    if (Array.isArray(parent)) {
      const i = last === '-' ? parent.length : Number(last);
      if (!Number.isInteger(i) || i < 0 || i > parent.length || (op.op !== 'add' && i >= parent.length)) fail(op, `bad array index ${last}`);
      if (op.op === 'add') parent.splice(i, 0, structuredClone(op.value));
      else if (op.op === 'replace') parent[i] = structuredClone(op.value);
      else parent.splice(i, 1);
    } else if (parent !== null && typeof parent === 'object') {
      const obj = parent as Record<string, unknown>;
      if (op.op !== 'add' && !(last in obj)) fail(op, `no member ${last}`);
      if (op.op === 'remove') delete obj[last];
      else obj[last] = structuredClone(op.value);
    } else {
      fail(op, 'parent is not a container');
    }
  }
  return root as T;
}
