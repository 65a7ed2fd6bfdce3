import { type AcceleratorKind, errors } from '@edgefleet/protocol';
import type { Command } from 'commander';
import { type ConnectionFlags, clientFrom } from '../connection.js';
import { outputFormat, printData } from '../output.js';
import { kubernetesWorkload } from './export-k8s.js';

const ACCELERATOR_KINDS: readonly AcceleratorKind[] = ['hailo8l', 'hailo8', 'hailo10h', 'coral-pcie', 'coral-usb'];

/** `edgefleet export k8s DEPLOYMENT`: a deployment as a Kubernetes workload (export-k8s.ts says what maps to what). */
export function exportCommands(program: Command): void {
  const exp = program.command('export').description("write deployments in other systems' formats");
  exp
    .command('k8s <deployment>')
    .description('the deployment as a Kubernetes DaemonSet (or Deployment) for nodes that run k3s, selecting nodes by their NFD labels')
    .option('-o, --output <format>', 'yaml or json', 'yaml')
    .option('--kind <kind>', 'DaemonSet (one pod on every selected node, as edgefleet runs it) or Deployment', 'DaemonSet')
    .option('--replicas <n>', 'pods of a Deployment', '1')
    .option('--namespace <ns>', "namespace of the workload (default: none, kubectl's current one)")
    .option('--accelerator <kind>', 'accelerator resource to request when the selector does not pin ai.accelerator')
    .action(async (name: string, opts: { output: string; kind: string; replicas: string; namespace?: string; accelerator?: string } & ConnectionFlags) => {
      const format = outputFormat(opts.output, ['yaml', 'json'], 'yaml') as 'yaml' | 'json';
      if (opts.kind !== 'DaemonSet' && opts.kind !== 'Deployment')
        throw errors.config(`unknown --kind "${opts.kind}"`, 'use --kind DaemonSet (the default) or --kind Deployment');
      const replicas = Number(opts.replicas);
      if (!Number.isInteger(replicas) || replicas < 0) throw errors.config(`--replicas "${opts.replicas}" is not a whole number`, 'write e.g. --replicas 3');
      if (opts.accelerator !== undefined && !ACCELERATOR_KINDS.includes(opts.accelerator as AcceleratorKind)) {
        throw errors.config(`unknown --accelerator "${opts.accelerator}"`, `use one of ${ACCELERATOR_KINDS.join(', ')}`);
      }
      const deployment = await clientFrom(opts).getDeployment(name);
      const workload = kubernetesWorkload(deployment, {
        kind: opts.kind,
        ...(opts.kind === 'Deployment' ? { replicas } : {}),
        ...(opts.namespace === undefined ? {} : { namespace: opts.namespace }),
        ...(opts.accelerator === undefined ? {} : { accelerator: opts.accelerator as AcceleratorKind }),
      });
      if (format === 'yaml')
        process.stdout.write(`# edgefleet export k8s ${name}: nodes are selected by the labels NFD publishes from the agent's feature file.\n`);
      printData(workload, format);
    });
}
