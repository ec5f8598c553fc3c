/**
 * Who each rendered container runs as, and whether it can read the files the
 * pod mounts for it: the kubelet's and the runtime's rules, applied to a pod
 * spec, since there is no cluster here to start the pods on.
 *
 * - identity: runAsUser / runAsGroup from the container's securityContext,
 *   else the pod's, else the image's USER (the Dockerfile's); fsGroup and
 *   supplementalGroups are added to every container's groups.
 * - Secret and ConfigMap files: owned by root, group fsGroup when
 *   the pod sets one (else root), mode items[].mode, else defaultMode, else
 *   0644 (the API default). emptyDir: a 0777 directory.
 * - No capability survives `drop: [ALL]`, so root gets no DAC override: uid 0
 *   reads a 0440 file of group 10001 only as a member of group 10001.
 */
type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);
const asRec = (v: unknown): Rec => (isRec(v) ? v : {});
const asArr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

export interface Identity {
  uid: number;
  gid: number;
  groups: number[];
  /** Whether the container keeps CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH (root with default capabilities). */
  dacOverride: boolean;
}

export interface ImageUser {
  uid: number;
  gid: number;
}

/** `USER uid:gid` of the Dockerfile's final stage. */
export function imageUserFromDockerfile(text: string): ImageUser {
  const users = [...text.matchAll(/^USER\s+(\d+)(?::(\d+))?\s*$/gm)];
  const last = users.at(-1);
  if (!last) throw new Error('the Dockerfile sets no numeric USER');
  return { uid: Number(last[1]), gid: Number(last[2] ?? last[1]) };
}

export function containerIdentity(podSpec: Rec, container: Rec, image: ImageUser): Identity {
  const pod = asRec(podSpec.securityContext);
  const sc = asRec(container.securityContext);
  const num = (v: unknown) => (typeof v === 'number' ? v : undefined);
  const uid = num(sc.runAsUser) ?? num(pod.runAsUser) ?? image.uid;
  // Without runAsGroup the runtime takes the user's group from the image's /etc/passwd:
  // the image's own user has its group; root has 0.
  const gid = num(sc.runAsGroup) ?? num(pod.runAsGroup) ?? (uid === image.uid ? image.gid : 0);
  const groups = [num(pod.fsGroup), ...asArr(pod.supplementalGroups).map(num)].filter((g): g is number => g !== undefined);
  const drop = asArr(asRec(sc.capabilities).drop).map(String);
  const dacOverride = uid === 0 && !drop.includes('ALL') && !(drop.includes('DAC_OVERRIDE') && drop.includes('DAC_READ_SEARCH'));
  return { uid, gid, groups, dacOverride };
}

export interface MountedFile {
  volume: string;
  /** Path inside the container. */
  path: string;
  uid: number;
  gid: number;
  mode: number;
}

/** Files of the Secret / ConfigMap volumes a container mounts, as the kubelet writes them. */
export function mountedFiles(podSpec: Rec, container: Rec, keysOf: (kind: 'secret' | 'configMap', name: string) => string[] | undefined): MountedFile[] {
  const pod = asRec(podSpec.securityContext);
  const fsGroup = typeof pod.fsGroup === 'number' ? pod.fsGroup : undefined;
  const volumes = new Map(asArr(podSpec.volumes).filter(isRec).map((v) => [String(v.name), v]));
  const out: MountedFile[] = [];
  for (const m of asArr(container.volumeMounts).filter(isRec)) {
    const v = volumes.get(String(m.name));
    if (!v) continue;
    for (const kind of ['secret', 'configMap'] as const) {
      const src = v[kind];
      if (!isRec(src)) continue;
      const name = String(kind === 'secret' ? src.secretName : src.name);
      const defaultMode = typeof src.defaultMode === 'number' ? src.defaultMode : 0o644;
      const items = asArr(src.items).filter(isRec);
      const entries = items.length > 0 ? items.map((i) => ({ path: String(i.path), mode: typeof i.mode === 'number' ? i.mode : defaultMode })) : (keysOf(kind, name) ?? []).map((k) => ({ path: k, mode: defaultMode }));
      const sub = typeof m.subPath === 'string' ? m.subPath : undefined;
      for (const e of entries) {
        if (sub !== undefined && e.path !== sub) continue;
        out.push({ volume: String(m.name), path: sub !== undefined ? String(m.mountPath) : `${String(m.mountPath)}/${e.path}`, uid: 0, gid: fsGroup ?? 0, mode: e.mode });
      }
    }
  }
  return out;
}

export function canRead(who: Identity, f: MountedFile): boolean {
  if (who.dacOverride) return true;
  if (who.uid === f.uid) return (f.mode & 0o400) !== 0;
  if (who.gid === f.gid || who.groups.includes(f.gid)) return (f.mode & 0o040) !== 0;
  return (f.mode & 0o004) !== 0;
}

/** Whether the container may write into an emptyDir it mounts at `path` (or a directory below it). */
export function writableEmptyDir(podSpec: Rec, container: Rec, path: string): boolean {
  const volumes = new Map(asArr(podSpec.volumes).filter(isRec).map((v) => [String(v.name), v]));
  return asArr(container.volumeMounts)
    .filter(isRec)
    .some((m) => m.readOnly !== true && isRec(volumes.get(String(m.name))?.emptyDir) && (path === m.mountPath || path.startsWith(`${String(m.mountPath)}/`)));
}

interface RenderedObject {
  kind: string;
  metadata: { name: string };
  [key: string]: unknown;
}

/**
 * For every container of every pod template: a line for each mounted Secret or
 * ConfigMap file it cannot read, and for each `cp` init container whose target
 * is not a writable emptyDir. Keys of Secrets created outside the manifests
 * come from `externalSecretKeys`; cert-manager Secrets hold tls.crt, tls.key, ca.crt.
 */
export function filePermissionProblems(objects: RenderedObject[], pods: { obj: RenderedObject; podSpec: Rec }[], externalSecretKeys: Record<string, string[]>, image: ImageUser): { problems: string[]; checked: number } {
  const keysOf = (kind: 'secret' | 'configMap', n: string) => {
    const o = objects.find((x) => x.kind === (kind === 'secret' ? 'Secret' : 'ConfigMap') && x.metadata.name === n);
    if (o) return Object.keys({ ...asRec(o.data), ...asRec(o.stringData), ...asRec(o.binaryData) });
    if (kind === 'secret' && objects.some((x) => x.kind === 'Certificate' && asRec(x.spec).secretName === n)) return ['tls.crt', 'tls.key', 'ca.crt'];
    return externalSecretKeys[n];
  };
  const problems: string[] = [];
  let checked = 0;
  for (const w of pods) {
    const containers = [...asArr(w.podSpec.initContainers), ...asArr(w.podSpec.containers)].filter(isRec);
    for (const c of containers) {
      const who = containerIdentity(w.podSpec, c, image);
      const where = `${w.obj.metadata.name}/${String(c.name)} (uid ${who.uid}, gid ${who.gid}, groups ${who.groups.join(',') || '-'})`;
      for (const f of mountedFiles(w.podSpec, c, keysOf)) {
        checked++;
        if (!canRead(who, f)) problems.push(`${where} cannot read ${f.path}: ${f.uid}:${f.gid} ${f.mode.toString(8)}`);
      }
      const cmd = asArr(c.command).map(String);
      if (cmd[0] === 'cp' && !writableEmptyDir(w.podSpec, c, cmd.at(-1)!.replace(/\/$/, ''))) problems.push(`${where}: ${cmd.at(-1)} is not a writable emptyDir`);
    }
  }
  return { problems, checked };
}
