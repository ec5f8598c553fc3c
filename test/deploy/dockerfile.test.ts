/**
 * Docker cannot run here, so the Dockerfile's structure is checked instead:
 * multi-stage, npm ci + build in the build stage, production-only deps, the
 * node:20-bookworm-slim runtime pinned by digest, a hardware target with
 * Intel's packages for the base's own distribution, no build tools or tsx in
 * what ships, a non-root USER, the kube-sgx entrypoint, and every file it
 * copies exists and survives .dockerignore.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { builtinModules } from 'node:module';
import { spawnSync } from 'node:child_process';
import { repoRoot } from './render.js';

interface Instruction {
  op: string;
  args: string;
  line: number;
}

interface Stage {
  base: string;
  name: string | undefined;
  instructions: Instruction[];
}

/** Dockerfile → instructions (continuations joined, comments dropped) grouped by stage. */
export function parseDockerfile(text: string): { args: Map<string, string>; stages: Stage[] } {
  const instructions: Instruction[] = [];
  let pending = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) return;
    if (pending === '') start = i + 1;
    if (line.startsWith('#')) return; // comment inside a continuation
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1).trimEnd() + ' ';
      return;
    }
    const full = (pending + line).trim();
    pending = '';
    const m = /^(\S+)\s*(.*)$/.exec(full);
    if (m) instructions.push({ op: m[1].toUpperCase(), args: m[2], line: start });
  });
  assert.equal(pending, '', 'dangling line continuation at the end');
  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.op === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      assert.ok(m, `FROM at line ${ins.line}`);
      const base = m[1].replace(/\$\{(\w+)\}/g, (_, v: string) => globalArgs.get(v) ?? `\${${v}}`);
      stages.push({ base, name: m[2], instructions: [] });
    } else if (stages.length === 0) {
      assert.equal(ins.op, 'ARG', `only ARG may precede FROM (line ${ins.line})`);
      const [k, v] = ins.args.split('=');
      globalArgs.set(k, v ?? '');
    } else {
      stages[stages.length - 1].instructions.push(ins);
    }
  }
  return { args: globalArgs, stages };
}

/** Whether .dockerignore leaves `path` in the build context (last matching pattern wins). */
export function inBuildContext(path: string, dockerignore: string): boolean {
  const patterns = dockerignore
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const toRegex = (glob: string) =>
    new RegExp(
      '^' +
        glob
          .replace(/\/+$/, '')
          .replace(/[.+^${}()|[\]\\]/g, '\\$&')
          .replace(/\*\*\//g, '@@DIRS@@')
          .replace(/\*\*/g, '.*')
          .replace(/\*/g, '[^/]*')
          .replace(/\?/g, '[^/]')
          .replace(/@@DIRS@@/g, '(.*/)?') +
        '$',
    );
  const parts = path.replace(/\/+$/, '').split('/');
  const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  let included = true;
  for (const raw of patterns) {
    const negate = raw.startsWith('!');
    const re = toRegex(negate ? raw.slice(1) : raw);
    // A pattern matching a parent directory matches everything below it.
    if (prefixes.some((p) => re.test(p))) included = negate;
  }
  return included;
}

describe('Dockerfile', () => {
  const text = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
  const ignore = readFileSync(join(repoRoot, '.dockerignore'), 'utf8');
  const { stages } = parseDockerfile(text);
  const final = stages[stages.length - 1];
  const stage = (name: string) => {
    const s = stages.find((x) => x.name === name);
    assert.ok(s, `stage ${name}`);
    return s;
  };
  const runtime = stage('runtime');
  const runtimeDcap = stage('runtime-dcap');
  /** The shipped targets: runtime, and runtime-dcap on top of it. */
  const shipped = [runtime, runtimeDcap];
  const runs = (s: Stage) => s.instructions.filter((i) => i.op === 'RUN').map((i) => i.args).join('\n');

  test('multi-stage: build stage runs npm ci and npm run build; runtime is node:20-bookworm-slim pinned by digest', () => {
    assert.ok(stages.length >= 2, 'at least two stages');
    const build = stages.find((s) => /npm run build/.test(runs(s)));
    assert.ok(build, 'a stage runs npm run build');
    assert.match(runs(build), /npm ci(\s|$)/);
    assert.match(runtime.base, /^node:20-bookworm-slim@sha256:[0-9a-f]{64}$/);
    // every stage from the registry uses that same pinned image: no floating tag anywhere
    for (const s of stages) assert.ok(s.base === runtime.base || stages.some((x) => x.name === s.base), `stage ${s.name ?? '?'} FROM ${s.base}`);
    assert.equal(runtimeDcap.base, 'runtime', 'the hardware image is the runtime image plus Intel\'s libraries');
    assert.equal(final, runtimeDcap);
    for (const s of shipped) assert.doesNotMatch(runs(s), /npm run build|npm ci(?! --omit=dev)/, `${s.name} does not build`);
  });

  test('hardware target: Intel\'s packages for the base image\'s own distribution, checksum-verified, signature-checked by apt', () => {
    // node:20-bookworm-slim is Debian 12 "bookworm": Intel's Debian 12 repository, never Ubuntu's.
    const codename = /-(bookworm|bullseye|trixie)-/.exec(runtime.base)?.[1];
    assert.equal(codename, 'bookworm');
    assert.doesNotMatch(text, /sgx_repo\/ubuntu|jammy|focal|noble/);
    const sgx = stage('intel-sgx');
    assert.equal(sgx.base, runtime.base);
    const args = sgx.instructions.filter((i) => i.op === 'ARG').map((i) => i.args).join('\n');
    assert.match(args, /distro\/Debian12\/sgx_debian_local_repo\.tgz/);
    const r = runs(sgx);
    assert.match(r, /sha256sum -c/);
    assert.match(r, /grep 'distro\/Debian12\/sgx_debian_local_repo\.tgz'/);
    assert.match(r, new RegExp(`deb \\[[^\\]]*signed-by=[^\\]]+\\] file:/opt/intel/sgx_debian_local_repo ${codename} main`));
    assert.doesNotMatch(r, /trusted=yes/);
    assert.match(runs(runtimeDcap), /apt-get install -y --no-install-recommends libsgx-dcap-ql libsgx-dcap-default-qpl/);
  });

  test('what ships has no compilers, curl, apt lists, tsx or esbuild', () => {
    for (const s of shipped) {
      const r = runs(s);
      assert.doesNotMatch(r, /\b(g\+\+|gcc|make|python3|build-essential|curl|gnupg)\b/, `${s.name} installs no build tools or downloaders`);
      if (/apt-get install/.test(r)) assert.match(r, /rm -rf \/var\/lib\/apt\/lists\/\*/, `${s.name} drops the apt lists`);
      for (const c of s.instructions.filter((i) => i.op === 'COPY' && /--from=/.test(i.args))) {
        const from = /--from=(\S+)/.exec(c.args)![1];
        assert.ok(['deps', 'build', 'intel-sgx'].includes(from), `${s.name} copies from ${from}`);
        if (from === 'build') assert.match(c.args, /\/src\/dist /, 'only dist/ from the build stage');
      }
    }
    // node_modules comes from deps, which drops tsx and esbuild after npm ci --omit=dev
    assert.match(runs(stage('deps')), /rm -rf node_modules\/tsx node_modules\/esbuild node_modules\/@esbuild/);
  });

  test('the overlays use the targets\' documented tags: hardware overlays the -dcap image, simulation the plain one', () => {
    const header = text.split('\n').filter((l) => l.startsWith('#')).join('\n');
    const tagOf = (target: string) => new RegExp(`--target ${target}\\s+-t REGISTRY/kube-sgx:(\\S+)`).exec(header)?.[1];
    const tags = { runtime: tagOf('runtime'), dcap: tagOf('runtime-dcap') };
    assert.equal(tags.runtime, '0.1.0');
    assert.equal(tags.dcap, '0.1.0-dcap');
    const overlayTag = (o: string) => /newTag: "([^"]+)"/.exec(readFileSync(join(repoRoot, 'deploy', 'overlays', o, 'kustomization.yaml'), 'utf8'))?.[1];
    assert.equal(overlayTag('aks'), tags.dcap);
    assert.equal(overlayTag('intel'), tags.dcap);
    assert.equal(overlayTag('simulation'), tags.runtime);
  });

  test('runtime gets production dependencies only, from npm ci --omit=dev', () => {
    const copies = runtime.instructions.filter((i) => i.op === 'COPY' && /--from=/.test(i.args));
    const nodeModules = copies.find((c) => /node_modules/.test(c.args));
    assert.ok(nodeModules, 'node_modules copied from another stage');
    const from = /--from=(\S+)/.exec(nodeModules.args)![1];
    const depsStage = stages.find((s) => s.name === from);
    assert.ok(depsStage, `stage ${from} exists`);
    assert.match(runs(depsStage), /npm ci --omit=dev/);
    for (const c of copies) {
      const name = /--from=(\S+)/.exec(c.args)![1];
      const idx = stages.findIndex((s) => s.name === name);
      assert.ok(idx >= 0 && idx < stages.length - 1, `COPY --from=${name} names an earlier stage`);
    }
  });

  test('runs as a non-root user', () => {
    for (const s of shipped) {
      const users = s.instructions.filter((i) => i.op === 'USER');
      assert.ok(users.length > 0, `USER set in ${s.name}`);
      const user = users[users.length - 1].args.split(':')[0];
      assert.ok(user !== 'root' && user !== '0', `${s.name}: USER ${user}`);
      // the last USER comes after every RUN (nothing re-escalates)
      const lastUser = s.instructions.lastIndexOf(users[users.length - 1]);
      assert.ok(s.instructions.slice(lastUser).every((i) => i.op !== 'RUN'), s.name);
    }
    assert.equal(runtimeDcap.instructions.filter((i) => i.op === 'USER').at(-1)?.args, runtime.instructions.filter((i) => i.op === 'USER').at(-1)?.args, 'the same user in both images');
  });

  test('entrypoint is the kube-sgx CLI, at the path tsc emits', () => {
    const ep = runtime.instructions.filter((i) => i.op === 'ENTRYPOINT').pop();
    assert.equal(runtimeDcap.instructions.some((i) => i.op === 'ENTRYPOINT'), false, 'runtime-dcap inherits it');
    assert.ok(ep);
    assert.deepEqual(JSON.parse(ep.args), ['node', '/app/dist/src/cli/main.js']);
    const build = JSON.parse(readFileSync(join(repoRoot, 'tsconfig.build.json'), 'utf8')) as { extends: string; include: string[] };
    const base = JSON.parse(readFileSync(join(repoRoot, build.extends), 'utf8')) as { compilerOptions: { outDir: string; rootDir: string } };
    assert.equal(base.compilerOptions.outDir, 'dist');
    assert.equal(base.compilerOptions.rootDir, '.');
    assert.ok(build.include.includes('src'));
    assert.ok(existsSync(join(repoRoot, 'src/cli/main.ts')), 'src/cli/main.ts compiles to dist/src/cli/main.js');
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    assert.equal(pkg.bin['kube-sgx'], './bin/kube-sgx.js');
    assert.match(readFileSync(join(repoRoot, 'bin/kube-sgx.js'), 'utf8'), /\.\.\/dist\/src\/cli\/main\.js/);
  });

  test('every COPY source from the context exists and is not excluded by .dockerignore', () => {
    const sources: string[] = [];
    for (const s of stages) {
      for (const i of s.instructions.filter((x) => x.op === 'COPY' && !/--from=/.test(x.args))) {
        const words = i.args.split(/\s+/).filter((w) => !w.startsWith('--'));
        sources.push(...words.slice(0, -1));
      }
    }
    assert.ok(sources.length >= 5);
    for (const src of sources) {
      assert.ok(existsSync(join(repoRoot, src)), `${src} exists`);
      assert.ok(inBuildContext(src, ignore), `${src} is in the build context`);
    }
    // and what must stay out
    for (const out of ['node_modules', 'dist', '.git', 'test/deploy/dockerfile.test.ts', 'src/foo.test.ts']) {
      assert.equal(inBuildContext(out, ignore), false, `${out} excluded`);
    }
  });

  test('every RUN is valid POSIX shell (sh -n), including the Intel DCAP install', () => {
    const runs = stages.flatMap((st) => st.instructions.filter((i) => i.op === 'RUN'));
    assert.ok(runs.length >= 4);
    for (const r of runs) {
      const res = spawnSync('sh', ['-n', '-c', r.args], { encoding: 'utf8' });
      assert.equal(res.status, 0, `line ${r.line}: ${res.stderr}`);
    }
    assert.equal(spawnSync('sh', ['-n', '-c', 'if then fi'], { encoding: 'utf8' }).status === 0, false, 'sh -n rejects bad syntax');
  });

  test('the parser and ignore matcher themselves', () => {
    const p = parseDockerfile('ARG B=img:1\nFROM ${B} AS one\nRUN a \\\n  # c\n  && b\nFROM one\nUSER 1\n');
    assert.equal(p.stages.length, 2);
    assert.equal(p.stages[0].base, 'img:1');
    assert.equal(p.stages[0].instructions[0].args, 'a && b');
    assert.equal(inBuildContext('src/a.ts', '*\n!src/\n'), true);
    assert.equal(inBuildContext('docs/a.md', '*\n!src/\n'), false);
    assert.equal(inBuildContext('src/x/a.test.ts', '*\n!src/\nsrc/**/*.test.ts\n'), false);
  });
});

describe('runtime dependencies', () => {
  test('every package src/ imports is a production dependency (the image runs npm ci --omit=dev)', () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const builtin = new Set(builtinModules);
    const missing: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const p = join(dir, name);
        if (statSync(p).isDirectory()) walk(p);
        else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) {
          const text = readFileSync(p, 'utf8');
          for (const m of text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^\s*import\s+)'([^'.][^']*)'/gm)) {
            const spec = m[1];
            if (spec.startsWith('node:') || builtin.has(spec)) continue;
            const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
            if (!(name in pkg.dependencies)) missing.push(`${relative(repoRoot, p)}: ${spec}`);
          }
        }
      }
    };
    walk(join(repoRoot, 'src'));
    assert.deepEqual(missing, []);
  });
});
