/**
 * A small Kustomize renderer for the tests: `kubectl kustomize` without kubectl.
 *
 * It supports exactly what deploy/ uses and refuses everything else, so a
 * kustomization that starts using a feature this file does not implement fails
 * the tests instead of rendering wrongly:
 * - `resources`: YAML files and directories holding a kustomization.yaml;
 * - `components`: directories with a `kind: Component` kustomization, applied
 *   after the resources (their own resources added, then their patches run over
 *   everything accumulated so far), as Kustomize orders them;
 * - `patches`: JSON 6902 patches (inline `patch` or `path`) with a
 *   `target` of kind + name (+ optional namespace);
 * - `labels`: `pairs` added to every object's metadata.labels (no selectors,
 *   no templates);
 * - `images`: `name` → `newName` / `newTag` / `digest` in every container and
 *   init container.
 */
import { readFileSync, readdirSync, existsSync, statSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import fastJsonPatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';

export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
};

const KUSTOMIZATION_KEYS = new Set(['apiVersion', 'kind', 'resources', 'components', 'patches', 'labels', 'images']);

function fail(dir: string, message: string): never {
  throw new Error(`kustomize ${dir}: ${message}`);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses every document of a YAML stream, rejecting syntax errors and non-objects. */
export function loadYamlObjects(file: string): K8sObject[] {
  const text = readFileSync(file, 'utf8');
  const out: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0].message}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    if (!isRecord(value)) throw new Error(`${file}: a document is not a mapping`);
    if (typeof value.apiVersion !== 'string' || typeof value.kind !== 'string') throw new Error(`${file}: document without apiVersion/kind`);
    if (!isRecord(value.metadata) || typeof value.metadata.name !== 'string') throw new Error(`${file}: ${value.kind} without metadata.name`);
    out.push(value as K8sObject);
  }
  return out;
}

/** The identity Kustomize uses to detect duplicates: group/kind/namespace/name. */
export function objectId(o: K8sObject): string {
  const group = o.apiVersion.includes('/') ? o.apiVersion.split('/')[0] : '';
  return `${group}/${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

function readKustomization(dir: string, expectedKind: 'Kustomization' | 'Component'): Record<string, unknown> {
  const file = join(dir, 'kustomization.yaml');
  if (!existsSync(file)) fail(dir, 'no kustomization.yaml');
  const k: unknown = parseYaml(readFileSync(file, 'utf8'));
  if (!isRecord(k)) fail(dir, 'kustomization.yaml is not a mapping');
  if (k.kind !== expectedKind) fail(dir, `expected kind ${expectedKind}, got ${String(k.kind)}`);
  const wantApi = expectedKind === 'Component' ? 'kustomize.config.k8s.io/v1alpha1' : 'kustomize.config.k8s.io/v1beta1';
  if (k.apiVersion !== wantApi) fail(dir, `expected apiVersion ${wantApi}, got ${String(k.apiVersion)}`);
  for (const key of Object.keys(k)) {
    if (!KUSTOMIZATION_KEYS.has(key)) fail(dir, `unsupported kustomization field "${key}" (extend test/deploy/kustomize.ts)`);
  }
  return k;
}

function stringList(dir: string, k: Record<string, unknown>, key: string): string[] {
  const v = k[key];
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) fail(dir, `${key} must be a list of strings`);
  return v as string[];
}

function addResources(dir: string, acc: K8sObject[], entries: string[]): void {
  const seen = new Set(acc.map(objectId));
  for (const entry of entries) {
    if (/^[a-z]+:\/\//.test(entry) || entry.startsWith('github.com/')) fail(dir, `remote resource ${entry} not supported`);
    const p = resolve(dir, entry);
    if (!existsSync(p)) fail(dir, `resource ${entry} does not exist`);
    const objects = statSync(p).isDirectory() ? renderDir(p, 'Kustomization') : loadYamlObjects(p);
    for (const o of objects) {
      const id = objectId(o);
      if (seen.has(id)) fail(dir, `duplicate object ${id} (from ${entry})`);
      seen.add(id);
      acc.push(o);
    }
  }
}

function applyPatches(dir: string, acc: K8sObject[], patches: unknown): void {
  if (patches === undefined) return;
  if (!Array.isArray(patches)) fail(dir, 'patches must be a list');
  for (const [i, p] of patches.entries()) {
    if (!isRecord(p)) fail(dir, `patches[${i}] is not a mapping`);
    for (const key of Object.keys(p)) {
      if (!['target', 'patch', 'path'].includes(key)) fail(dir, `patches[${i}].${key} not supported`);
    }
    const target = p.target;
    if (!isRecord(target) || typeof target.kind !== 'string' || typeof target.name !== 'string') {
      fail(dir, `patches[${i}] needs target.kind and target.name`);
    }
    for (const key of Object.keys(target)) {
      if (!['kind', 'name', 'namespace'].includes(key)) fail(dir, `patches[${i}].target.${key} not supported`);
    }
    const text = typeof p.patch === 'string' ? p.patch : typeof p.path === 'string' ? readFileSync(resolve(dir, p.path), 'utf8') : undefined;
    if (text === undefined) fail(dir, `patches[${i}] needs patch or path`);
    const ops: unknown = parseYaml(text);
    // Only JSON 6902 (a list of operations); a strategic-merge patch is a mapping.
    if (!Array.isArray(ops)) fail(dir, `patches[${i}] is not a JSON 6902 operation list (strategic merge not supported)`);
    const matches = acc.filter(
      (o) => o.kind === target.kind && o.metadata.name === target.name && (target.namespace === undefined || o.metadata.namespace === target.namespace),
    );
    if (matches.length === 0) fail(dir, `patches[${i}] target ${String(target.kind)}/${String(target.name)} matches nothing`);
    for (const o of matches) {
      const idx = acc.indexOf(o);
      try {
        acc[idx] = fastJsonPatch.applyPatch(structuredClone(o), ops as Operation[], true, false).newDocument;
      } catch (e) {
        fail(dir, `patches[${i}] on ${objectId(o)}: ${(e as Error).message.split('\n')[0]}`);
      }
    }
  }
}

function applyLabels(dir: string, acc: K8sObject[], labels: unknown): void {
  if (labels === undefined) return;
  if (!Array.isArray(labels)) fail(dir, 'labels must be a list');
  for (const [i, l] of labels.entries()) {
    if (!isRecord(l) || !isRecord(l.pairs)) fail(dir, `labels[${i}] needs pairs`);
    for (const key of Object.keys(l)) {
      if (key !== 'pairs') fail(dir, `labels[${i}].${key} not supported (only metadata labels)`);
    }
    for (const o of acc) {
      o.metadata.labels = { ...(o.metadata.labels ?? {}), ...(l.pairs as Record<string, string>) };
    }
  }
}

function splitImage(image: string): { name: string; tag: string } {
  const at = image.indexOf('@');
  if (at >= 0) return { name: image.slice(0, at), tag: image.slice(at) };
  const colon = image.lastIndexOf(':');
  if (colon > image.lastIndexOf('/')) return { name: image.slice(0, colon), tag: image.slice(colon) };
  return { name: image, tag: '' };
}

function forEachContainer(node: unknown, fn: (c: Record<string, unknown>) => void): void {
  if (Array.isArray(node)) {
    node.forEach((n) => forEachContainer(n, fn));
  } else if (isRecord(node)) {
    for (const [key, value] of Object.entries(node)) {
      if ((key === 'containers' || key === 'initContainers') && Array.isArray(value)) {
        value.filter(isRecord).forEach(fn);
      } else {
        forEachContainer(value, fn);
      }
    }
  }
}

function applyImages(dir: string, acc: K8sObject[], images: unknown): void {
  if (images === undefined) return;
  if (!Array.isArray(images)) fail(dir, 'images must be a list');
  for (const [i, img] of images.entries()) {
    if (!isRecord(img) || typeof img.name !== 'string') fail(dir, `images[${i}] needs name`);
    for (const key of Object.keys(img)) {
      if (!['name', 'newName', 'newTag', 'digest'].includes(key)) fail(dir, `images[${i}].${key} not supported`);
    }
    for (const o of acc) {
      forEachContainer(o, (c) => {
        if (typeof c.image !== 'string') return;
        const { name, tag } = splitImage(c.image);
        if (name !== img.name) return;
        const newName = typeof img.newName === 'string' ? img.newName : name;
        const newTag = typeof img.digest === 'string' ? `@${img.digest}` : typeof img.newTag === 'string' ? `:${img.newTag}` : tag;
        c.image = newName + newTag;
      });
    }
  }
}

/** Renders a kustomization directory into its list of objects, in order. */
export function renderDir(dirPath: string, kind: 'Kustomization' | 'Component' = 'Kustomization', acc: K8sObject[] = []): K8sObject[] {
  const dir = resolve(dirPath);
  const k = readKustomization(dir, kind);
  addResources(dir, acc, stringList(dir, k, 'resources'));
  for (const c of stringList(dir, k, 'components')) {
    const cdir = resolve(dir, c);
    if (!existsSync(cdir) || !statSync(cdir).isDirectory()) fail(dir, `component ${c} is not a directory`);
    renderDir(cdir, 'Component', acc);
  }
  applyPatches(dir, acc, k.patches);
  applyLabels(dir, acc, k.labels);
  applyImages(dir, acc, k.images);
  return acc;
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

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
