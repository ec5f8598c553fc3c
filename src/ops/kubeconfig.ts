/**
 * The one kubeconfig loader, for everything that talks to the API server:
 * the webhook (fromNodes), doctor, the node agent's Node updates and the
 * attestation service's Kubernetes store. An explicit file always wins;
 * without one, `default` follows the client's search (KUBECONFIG,
 * ~/.kube/config, in-cluster) and `in-cluster` takes only the pod's service
 * account (a DaemonSet must not pick up an operator's kubeconfig).
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeSgxError } from '../errors.js';

const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * Where loadFromDefault() would find a kubeconfig, or null. Without any, the
 * client falls back to http://localhost:8080 and every call then fails with
 * "HTTP protocol is not allowed…", which names neither the cause nor the fix.
 */
export function defaultKubeConfigSource(env: NodeJS.ProcessEnv = process.env, home = homedir()): string | null {
  if (env.KUBECONFIG) return `KUBECONFIG=${env.KUBECONFIG}`;
  const file = join(home, '.kube', 'config');
  if (existsSync(file)) return file;
  if (env.KUBERNETES_SERVICE_HOST && existsSync(SERVICE_ACCOUNT_TOKEN)) return 'in-cluster service account';
  return null;
}

export type KubeConfigFallback = 'default' | 'in-cluster';

/** Fills `kc` from `file`, else from the fallback; KUBECONFIG_INVALID naming the source when it does not load. */
export function readKubeConfig(kc: KubeConfig, file: string | undefined, fallback: KubeConfigFallback = 'default'): KubeConfig {
  try {
    if (file) kc.loadFromFile(file);
    else if (fallback === 'in-cluster') kc.loadFromCluster();
    else kc.loadFromDefault();
  } catch (e) {
    const source = file ?? (fallback === 'in-cluster' ? 'in-cluster config' : 'kubeconfig');
    throw new KubeSgxError('KUBECONFIG_INVALID', `cannot load ${source}: ${(e as Error).message}`, { cause: e, path: ['kubeconfig'] });
  }
  return kc;
}

// @kubernetes/client-node (about 30 MB of heap and most of a second to import) is loaded only by the
// commands that talk to the API server, so a webhook with a fixed maxEpcPerNode never pays for it.
export async function loadKubeConfig(file: string | undefined): Promise<KubeConfig> {
  if (!file && defaultKubeConfigSource() === null) {
    throw new KubeSgxError(
      'KUBECONFIG_MISSING',
      'no kubeconfig: --kubeconfig not given, KUBECONFIG unset, ~/.kube/config absent, and not in a pod with a service account; pass --kubeconfig FILE',
      { path: ['kubeconfig'] },
    );
  }
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = readKubeConfig(new KubeConfig(), file);
  if (!kc.getCurrentCluster()) throw new KubeSgxError('KUBECONFIG_INVALID', 'kubeconfig has no current cluster (use --kubeconfig FILE)');
  return kc;
}
