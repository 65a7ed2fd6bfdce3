import { existsSync } from 'node:fs';
import { errors, type Labels, parseLabelArg } from '@edgefleet/protocol';
import type { Command } from 'commander';
import { readFlagFile } from '../connection.js';
import { collect, untilSignalled } from './util.js';

/** Parses repeated `--label k=v` flags. */
export function labelFlags(args: string[]): Labels {
  const labels: Labels = {};
  for (const arg of args) {
    const parsed = parseLabelArg(arg);
    if ('remove' in parsed) throw errors.invalidLabel(`--label ${arg}: removing is not possible here`, 'write --label key=value');
    labels[parsed.key] = parsed.value;
  }
  return labels;
}

/** `edgefleet agent`: enrolls this node (first start) and keeps it reporting. */
export function agentCommand(program: Command): void {
  program
    .command('agent')
    .description('run the node agent: enroll, label the node from its hardware, report heartbeats')
    .option('--server <url>', 'control plane URL, https://HOST:PORT; repeat it for replicas (default: server in --config)', collect, [])
    .option('--token <token>', 'bootstrap token (first start only)')
    .option('--token-file <file>', 'file holding the bootstrap token')
    .option('--data <dir>', 'agent data dir: key, certificate, pinned CA', '/var/lib/edgefleet')
    .option('--hw-root <dir>', 'root for hardware reads (a fixture folder stands in for a Pi)', '/')
    .option('--site <site>', 'site of this node (label geolocation.site)')
    .option('--label <k=v>', 'extra label for this node (repeatable)', collect, [])
    .option('--name <name>', 'node name (default: hostname)')
    .option('--config <file>', 'agent config (YAML): telemetry profile, queue size, alert thresholds, log scrubbing')
    .option('--telemetry-profile <profile>', 'lan (15s resolution, upload every 60s) or metered (5min, every 15min, heartbeats folded in)')
    .option('--metrics-listen <host:port>', 'local Prometheus /metrics endpoint ("off" turns it off)', '127.0.0.1:9464')
    .option('--telemetry-queue-size <size>', 'on-disk bound of the metrics queue kept while offline (e.g. 64MiB)')
    .option('--workload-user <user>', 'user workloads run as, created when missing (default edgefleet-workload; "off": as the agent)')
    .option(
      '--inference-listen <address>',
      'address deployments with spec.endpoint serve the site on, at their port (default 0.0.0.0: all interfaces; config workloads.inferenceListen)',
    )
    .option(
      '--nfd-features-file <path>',
      'Node Feature Discovery feature file the labels are written to (default: features.d/edgefleet when /etc/kubernetes/node-feature-discovery/features.d exists; "off": none)',
    )
    .option('--device-plugin', 'also serve the kubelet device plugin for the accelerators (nodes that run k3s)')
    .option('--device-plugin-dir <dir>', 'the kubelet device plugin folder', '/var/lib/kubelet/device-plugins')
    .action(async (opts: AgentFlags) => {
      const { Agent, DEFAULT_INFERENCE_LISTEN, DEFAULT_WORKLOAD_USER, loadAgentSettings, parseInferenceListen, parseSize, resolveNfdFeaturesFile } =
        await import('@edgefleet/agent');
      if (opts.telemetryProfile !== undefined && opts.telemetryProfile !== 'lan' && opts.telemetryProfile !== 'metered') {
        throw errors.config(`unknown --telemetry-profile "${opts.telemetryProfile}"`, 'use lan (the default) or metered (cellular links)');
      }
      const settings = opts.config === undefined ? undefined : loadAgentSettings(opts.config);
      const server = opts.server.length > 0 ? opts.server : settings?.server;
      if (server === undefined)
        throw errors.config('no server given', `pass --server URL or set server: in the agent config${opts.config === undefined ? '' : ` ${opts.config}`}`);
      // The config's token file is read only while it exists: once the node has enrolled the
      // token is spent, and provisioning may have deleted it.
      const configToken = settings?.tokenFile !== undefined && existsSync(settings.tokenFile) ? readFlagFile(settings.tokenFile, 'tokenFile') : undefined;
      const token = opts.token ?? (opts.tokenFile === undefined ? configToken : readFlagFile(opts.tokenFile, '--token-file'));
      const site = opts.site ?? settings?.site;
      // Flag over config over the default: workloads never run as root unless told to.
      const workloadUser = opts.workloadUser === 'off' ? false : (opts.workloadUser ?? settings?.workloadUser ?? DEFAULT_WORKLOAD_USER);
      const inferenceListen =
        opts.inferenceListen === undefined ? (settings?.inferenceListen ?? DEFAULT_INFERENCE_LISTEN) : parseInferenceListen(opts.inferenceListen);
      const telemetry = {
        ...(settings?.telemetry ?? {}),
        ...(opts.telemetryProfile === undefined ? {} : { profile: opts.telemetryProfile as 'lan' | 'metered' }),
        metricsListen: opts.metricsListen === 'off' ? (false as const) : opts.metricsListen,
        ...(opts.telemetryQueueSize === undefined ? {} : { queueBytes: parseSize(opts.telemetryQueueSize, '--telemetry-queue-size') }),
      };
      const agent = new Agent({
        server,
        dataDir: opts.data,
        hwRoot: opts.hwRoot,
        labels: { ...(settings?.labels ?? {}), ...labelFlags(opts.label) },
        ...(token === undefined || token === '' ? {} : { token }),
        ...(site === undefined ? {} : { site }),
        ...(opts.name === undefined ? {} : { name: opts.name }),
        telemetry,
        workloadUser,
        inferenceListen,
        ...nfd(resolveNfdFeaturesFile(opts.nfdFeaturesFile)),
      });
      const plugin = opts.devicePlugin === true ? await startDevicePlugin(opts.hwRoot, opts.devicePluginDir) : undefined;
      await untilSignalled(
        () => {
          agent.stop();
          plugin?.stop();
        },
        async () => {
          try {
            await agent.run();
          } finally {
            // The agent ended (decommissioned, fatal error): its node leaves the kubelet too.
            plugin?.stop();
            await plugin?.done;
          }
        },
      );
    });
}

function nfd(file: string | undefined): { nfdFeaturesFile?: string } {
  return file === undefined ? {} : { nfdFeaturesFile: file };
}

/** Starts the accelerator device plugin in the background; gRPC is loaded only here. */
async function startDevicePlugin(hwRoot: string, dir: string, pollIntervalMs?: number): Promise<{ stop: () => void; done: Promise<void> }> {
  const { AcceleratorDevicePlugin } = await import('@edgefleet/agent/k8s');
  const abort = new AbortController();
  const plugin = new AcceleratorDevicePlugin({ hwRoot, dir, ...(pollIntervalMs === undefined ? {} : { pollIntervalMs }) });
  return { stop: () => abort.abort(), done: plugin.run(abort.signal) };
}

/**
 * `edgefleet device-plugin`: the accelerator device plugin on its own, for a node that runs
 * k3s. It needs no enrollment and no server, and it can run under its own unit with write
 * access to the kubelet's folder only, while the agent's unit keeps its narrow sandbox
 * (`ReadWritePaths=/var/lib/edgefleet`).
 */
export function devicePluginCommand(program: Command): void {
  program
    .command('device-plugin')
    .description("serve the kubelet device plugin API for this node's AI accelerators (edgefleet.dev/<kind>)")
    .option('--hw-root <dir>', 'root for hardware reads (a fixture folder stands in for a Pi)', '/')
    .option('--dir <dir>', 'the kubelet device plugin folder', '/var/lib/kubelet/device-plugins')
    .option('--poll-interval <ms>', 'how often device nodes and kubelet.sock are checked, in milliseconds', '5000')
    .action(async (opts: { hwRoot: string; dir: string; pollInterval: string }) => {
      const pollMs = Number(opts.pollInterval);
      if (!Number.isInteger(pollMs) || pollMs < 10)
        throw errors.config(`--poll-interval "${opts.pollInterval}" is not a whole number of milliseconds ≥ 10`, 'write e.g. --poll-interval 5000');
      const plugin = await startDevicePlugin(opts.hwRoot, opts.dir, pollMs);
      await untilSignalled(plugin.stop, () => plugin.done);
    });
}

interface AgentFlags {
  /** Every --server given, in order (replicas); empty when none. */
  server: string[];
  token?: string;
  tokenFile?: string;
  data: string;
  hwRoot: string;
  site?: string;
  label: string[];
  name?: string;
  config?: string;
  telemetryProfile?: string;
  metricsListen: string;
  telemetryQueueSize?: string;
  workloadUser?: string;
  inferenceListen?: string;
  nfdFeaturesFile?: string;
  devicePlugin?: boolean;
  devicePluginDir: string;
}
