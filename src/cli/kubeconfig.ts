/** The kubeconfig for commands that talk to the API server (webhook fromNodes, doctor). */
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeSgxError } from '../errors.js';

// @kubernetes/client-node (about 30 MB of heap and most of a second to import) is loaded only by the
// commands that talk to the API server, so a webhook with a fixed maxEpcPerNode never pays for it.
export async function loadKubeConfig(file: string | undefined): Promise<KubeConfig> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  try {
    if (file) kc.loadFromFile(file);
    else kc.loadFromDefault();
  } catch (e) {
    throw new KubeSgxError('KUBECONFIG_INVALID', `cannot load kubeconfig${file ? ` ${file}` : ''}: ${(e as Error).message}`, { cause: e });
  }
  if (!kc.getCurrentCluster()) throw new KubeSgxError('KUBECONFIG_INVALID', 'kubeconfig has no current cluster (use --kubeconfig FILE)');
  return kc;
}
