/**
 * The validating half: denies, with a message that says what to change, a pod
 * that can never run on an SGX node, and a pod whose mutation was bypassed
 * (EPC but no enclave device — the failure users hit with Intel's webhook and
 * `failurePolicy: Ignore`). Runs on the final object, after every mutating
 * webhook.
 */
import { ENCLAVE_RESOURCE, EPC_RESOURCE, PROVISION_RESOURCE, QUOTE_PROVIDER_ANNOTATION } from '../names.js';
import { EPC_NAMES, quoteProviderOf, type WebhookConfig } from './config.js';
import { analyzePod, describeContainer, readPod, type PodProblem } from './pod.js';
import { formatBinarySI, parseIntegerQuantity } from './quantity.js';

export interface ValidationContext {
  /** Largest EPC (bytes) any SGX node offers, when known (config or node capacity). */
  maxEpcPerNodeBytes?: bigint;
}

export interface PodValidation {
  allowed: boolean;
  /** Empty when allowed; otherwise every problem, joined with "; ". */
  message: string;
  problems: PodProblem[];
  warnings: string[];
}

/** The configured per-node EPC ceiling, when it is a fixed quantity. */
export function configuredMaxEpcBytes(config: WebhookConfig): bigint | undefined {
  const m = config.maxEpcPerNode;
  return m === undefined || m === 'fromNodes' ? undefined : parseIntegerQuantity(m);
}

export function validatePod(podObject: unknown, config: WebhookConfig, ctx: ValidationContext = {}): PodValidation {
  const pod = readPod(podObject);
  const sgx = analyzePod(pod);
  const problems = [...sgx.problems];
  const warnings: string[] = [];
  const names = new Set(sgx.containers.map((c) => c.name));

  // Only kube-sgx's own annotation is checked: Intel's webhook ignores a value it does not know, so
  // denying one here would refuse pods that Intel's stack admits.
  const chosen = quoteProviderOf(pod.metadata?.annotations);
  const provider = chosen?.annotation === QUOTE_PROVIDER_ANNOTATION ? chosen.value : undefined;
  if (provider !== undefined && provider !== 'aesmd') {
    const named = sgx.containers.find((c) => c.name === provider);
    if (!named) {
      problems.push({
        code: 'UNKNOWN_QUOTE_PROVIDER',
        path: ['metadata', 'annotations', QUOTE_PROVIDER_ANNOTATION],
        message: `annotation ${QUOTE_PROVIDER_ANNOTATION}=${JSON.stringify(provider)} is neither "aesmd" (out-of-process quoting through the node's quote helper) nor a container of this pod (in-process quoting; containers: ${[...names].map((n) => JSON.stringify(n)).join(', ')})`,
      });
    } else if (named.epcBytes === 0n) {
      problems.push({
        code: 'QUOTE_PROVIDER_WITHOUT_EPC',
        path: ['metadata', 'annotations', QUOTE_PROVIDER_ANNOTATION],
        message: `annotation ${QUOTE_PROVIDER_ANNOTATION} names ${describeContainer(named)}, which requests no EPC; add ${EPC_RESOURCE} to its limits (in-process quoting runs inside an enclave) or name the enclave container`,
      });
    }
  }

  for (const c of sgx.containers) {
    const who = describeContainer(c);
    const enclave = c.limits.get(ENCLAVE_RESOURCE) ?? 0n;
    if ((c.limits.get(PROVISION_RESOURCE) ?? 0n) > 0n && enclave === 0n) {
      problems.push({
        code: 'PROVISION_WITHOUT_ENCLAVE',
        path: ['spec', c.list, c.index, 'resources', 'limits', PROVISION_RESOURCE],
        message: `${who} requests ${PROVISION_RESOURCE} without ${ENCLAVE_RESOURCE}; the provisioning device is only usable from an enclave: add ${ENCLAVE_RESOURCE}: 1 and ${EPC_RESOURCE} to its limits, or remove ${PROVISION_RESOURCE}`,
      });
    }
    if (c.epcBytes > 0n && config.requireEnclaveDevice) {
      if (enclave === 0n) {
        problems.push({
          code: 'EPC_WITHOUT_ENCLAVE',
          path: ['spec', c.list, c.index, 'resources', 'limits'],
          message: `${who} requests EPC but no ${ENCLAVE_RESOURCE} device, so it would start without /dev/sgx_enclave: the kube-sgx mutating webhook did not process this pod (check that it is installed and its namespace is not excluded), or add ${ENCLAVE_RESOURCE}: 1 to its limits`,
        });
      }
      for (const name of [...c.limits.keys(), ...c.requests.keys()]) {
        if ((EPC_NAMES as readonly string[]).includes(name) && !(config.epcResourceNames as readonly string[]).includes(name)) {
          problems.push({
            code: 'EPC_NAME_NOT_ADVERTISED',
            path: ['spec', c.list, c.index, 'resources'],
            message: `${who} requests ${name}, which this cluster's SGX nodes do not advertise (they advertise ${config.epcResourceNames.join(', ')}); the mutating webhook renames it when it runs — request ${config.epcResourceNames[0]} instead`,
          });
          break;
        }
      }
    }
  }

  const max = ctx.maxEpcPerNodeBytes ?? configuredMaxEpcBytes(config);
  if (max !== undefined && sgx.totalEpcBytes > max) {
    const parts = sgx.epcContainers.map((c) => `${c.name} ${formatBinarySI(c.epcBytes)}`).join(', ');
    problems.push({
      code: 'EPC_EXCEEDS_NODE',
      path: ['spec'],
      message: `the pod needs ${formatBinarySI(sgx.totalEpcBytes)} of EPC on one node (${parts}) but the largest SGX node offers ${formatBinarySI(max)}; lower the containers' EPC limits to fit in ${formatBinarySI(max)} in total, or add SGX nodes with more EPC`,
    });
  } else if (max === undefined && config.maxEpcPerNode === 'fromNodes' && sgx.totalEpcBytes > 0n) {
    warnings.push('kube-sgx could not read SGX node capacity; the EPC size check was skipped');
  }
  return { allowed: problems.length === 0, message: problems.map((p) => p.message).join('; '), problems, warnings };
}
