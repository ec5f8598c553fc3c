/**
 * Rendering for the deploy tests: the real `kubectl kustomize` (Kustomize as
 * operators run it with `kubectl apply -k`), parsed into objects. kubectl is
 * on every machine that runs these tests, CI included; without it the tests
 * fail loudly rather than render some other way.
 */
import { readFileSync, readdirSync, existsSync, statSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { parseAllDocuments } from 'yaml';

export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
};

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses every document of a YAML stream, rejecting syntax errors and objects without apiVersion/kind/name. */
export function parseYamlObjects(text: string, source: string): K8sObject[] {
  const out: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`${source}: ${doc.errors[0].message}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    if (!isRecord(value)) throw new Error(`${source}: a document is not a mapping`);
    if (typeof value.apiVersion !== 'string' || typeof value.kind !== 'string') throw new Error(`${source}: document without apiVersion/kind`);
    if (!isRecord(value.metadata) || typeof value.metadata.name !== 'string') throw new Error(`${source}: ${value.kind} without metadata.name`);
    out.push(value as K8sObject);
  }
  return out;
}

export function loadYamlObjects(file: string): K8sObject[] {
  return parseYamlObjects(readFileSync(file, 'utf8'), file);
}

/** `kubectl kustomize <dir>` output as text; throws with kubectl's own message when the kustomization is broken. */
export function kustomizeYaml(dir: string): string {
  try {
    return execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`kubectl kustomize ${dir}: ${(err.stderr ?? '').trim() || err.message}`);
  }
}

const rendered = new Map<string, K8sObject[]>();

/** The objects `kubectl apply -k <dir>` would send; a fresh copy per call (callers mutate them). */
export function renderDir(dir: string): K8sObject[] {
  let objects = rendered.get(dir);
  if (!objects) {
    objects = parseYamlObjects(kustomizeYaml(dir), `kubectl kustomize ${dir}`);
    rendered.set(dir, objects);
  }
  return structuredClone(objects);
}

/** Every directory under `root` (inclusive) holding a kustomization.yaml. */
export function findKustomizations(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    if (existsSync(join(d, 'kustomization.yaml'))) out.push(d);
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
    }
  };
  walk(root);
  return out.sort();
}
