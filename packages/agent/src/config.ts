import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { errors } from '@edgefleet/protocol';
import type * as Yaml from 'yaml';
import { z } from 'zod';
import { AlertRulesSchema } from './telemetry/alerts/rules.js';
import { createScrubber } from './telemetry/logs/scrub.js';
import type { NodeTelemetryOptions } from './telemetry/node-telemetry.js';
import { parseInferenceListen } from './workloads/site-ports.js';

/**
 * The agent config file (`edgefleet agent --config FILE`, YAML): telemetry settings that a
 * fleet bakes into its golden image, and the node's own settings the packaged service
 * (/etc/edgefleet/agent.yaml, docs/ARCHITECTURE.md) starts from. Flags override it.
 * Example (telemetry in docs/TELEMETRY.md):
 *
 *   server: https://fleet.example.com:8443      # or a list: [https://cp-1:8443, https://cp-2:8443]
 *   tokenFile: /etc/edgefleet/private/bootstrap-token   # read only until the node has enrolled
 *   site: plant-3
 *   labels: { line: packaging }
 *   telemetry:
 *     profile: metered
 *     queueSize: 64MiB
 *     metricsListen: 127.0.0.1:9464
 *     alerts: { diskPercent: 85, disabled: [NodeThrottled] }
 *     logs:
 *       ratePerSecond: 5
 *       scrub:
 *         rules: [{ name: customer-id, pattern: "CUST-[0-9]{6}" }]
 *         dropFields: [user.address]
 *   workloads:
 *     user: edgefleet-workload   # the default; false runs workloads as the agent (docs/SECURITY.md)
 *     inferenceListen: 0.0.0.0   # where deployments with spec.endpoint serve the site (the default: all interfaces)
 */

const SIZE = /^(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB)?$/i;
const UNITS: Record<string, number> = { b: 1, kb: 1e3, kib: 1024, mb: 1e6, mib: 1024 ** 2, gb: 1e9, gib: 1024 ** 3 };

/** `64MiB`, `500KB`, `1048576` → bytes. */
export function parseSize(text: string, what: string): number {
  const m = SIZE.exec(text.trim());
  const bytes = m === null ? Number.NaN : Math.floor(Number(m[1]) * (UNITS[(m[2] ?? 'b').toLowerCase()] as number));
  if (!Number.isFinite(bytes) || bytes < 64 * 1024) {
    throw errors.config(`${what} "${text}" is not a size of at least 64KiB`, 'write a size like 64MiB, 500MB or 1GiB');
  }
  return bytes;
}

const Size = z.union([z.number().int().positive(), z.string()]);

const ConfigSchema = z
  .object({
    server: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
    tokenFile: z.string().min(1).optional(),
    site: z.string().min(1).optional(),
    labels: z.record(z.string(), z.string()).optional(),
    telemetry: z
      .object({
        profile: z.enum(['lan', 'metered']).optional(),
        queueSize: Size.optional(),
        logQueueSize: Size.optional(),
        metricsListen: z.union([z.string(), z.literal(false)]).optional(),
        replayPerSecond: z.number().positive().max(1000).optional(),
        alerts: AlertRulesSchema.optional(),
        logs: z
          .object({
            ratePerSecond: z.number().positive().optional(),
            scrub: z
              .object({
                rules: z.array(z.object({ name: z.string().min(1), pattern: z.string().min(1), replacement: z.string().optional() }).strict()).optional(),
                dropFields: z.array(z.string().min(1)).optional(),
              })
              .strict()
              .optional(),
          })
          .strict()
          .optional(),
      })
      .strict()
      .optional(),
    workloads: z
      .object({
        /** The user workloads run as; false: as the agent itself. */
        user: z.union([z.string().min(1), z.literal(false)]).optional(),
        /** The node's inference address: deployments with spec.endpoint are served there (default 0.0.0.0). */
        inferenceListen: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

/** Everything the agent config sets: the node's server and declarations, telemetry, and who workloads run as. */
export interface AgentSettings {
  telemetry: NodeTelemetryOptions;
  /** `workloads.user`: a user name, false for the agent itself, undefined when not set. */
  workloadUser: string | false | undefined;
  /** `workloads.inferenceListen`: the address site endpoints listen on (`--inference-listen` overrides it). */
  inferenceListen?: string;
  /** `server`: the control plane URL, or a list of replicas' URLs (`--server` overrides it). */
  server?: string | string[];
  /** `tokenFile`: the bootstrap token's file; a missing file is no token (an enrolled node needs none). */
  tokenFile?: string;
  /** `site`: the node's site (`--site` overrides it). */
  site?: string;
  /** `labels`: labels the node declares (`--label` adds to them and wins). */
  labels?: Record<string, string>;
}

function readConfig(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw errors.config(`cannot read the agent config ${file}: ${(err as Error).message}`, 'check --config');
  }
}

/** Reads and validates the agent config's telemetry part; errors name the file, line and field. */
export function loadAgentConfig(file: string): NodeTelemetryOptions {
  return parseAgentConfig(readConfig(file), file);
}

/** Reads and validates the whole agent config. */
export function loadAgentSettings(file: string): AgentSettings {
  return parseAgentSettings(readConfig(file), file);
}

/**
 * The YAML parser, loaded on the first config read (synchronously, so the API stays sync):
 * most agents run without --config, and an idle agent would otherwise keep megabytes of it.
 */
const yaml = (): typeof Yaml => createRequire(import.meta.url)('yaml') as typeof Yaml;

/** The telemetry part of an agent config text. */
export function parseAgentConfig(text: string, file = 'agent config'): NodeTelemetryOptions {
  return parseAgentSettings(text, file).telemetry;
}

/** Parses and validates an agent config text. */
export function parseAgentSettings(text: string, file = 'agent config'): AgentSettings {
  const doc = yaml().parseDocument(text);
  if (doc.errors.length > 0) {
    const e = doc.errors[0] as { message: string; linePos?: Array<{ line: number }> };
    throw errors.config(`${file}:${e.linePos?.[0]?.line ?? 1}: ${e.message.split('\n')[0]}`, 'fix the YAML syntax');
  }
  const parsed = ConfigSchema.safeParse(doc.toJS() ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue?.path ?? [];
    const node = doc.getIn(path, true) as { range?: [number, number] } | undefined;
    const line = node?.range === undefined ? undefined : text.slice(0, node.range[0]).split('\n').length;
    const field = path.map(String).join('.') || '(top level)';
    throw errors.config(
      `${file}${line === undefined ? '' : `:${line}`}: ${field}: ${issue?.message ?? 'invalid'}`,
      'see the agent config reference in docs/TELEMETRY.md',
    );
  }
  const t = parsed.data.telemetry ?? {};
  const scrub = t.logs?.scrub;
  // Compile the scrub rules now, so a bad regex stops the agent at start, naming the rule.
  if (scrub !== undefined) createScrubber(scrub);
  const { server, tokenFile, site, labels } = parsed.data;
  const inferenceListen = parsed.data.workloads?.inferenceListen;
  return {
    telemetry: telemetryOptions(t, scrub),
    workloadUser: parsed.data.workloads?.user,
    ...(inferenceListen === undefined ? {} : { inferenceListen: parseInferenceListen(inferenceListen, `${file}: workloads.inferenceListen`) }),
    ...(server === undefined ? {} : { server }),
    ...(tokenFile === undefined ? {} : { tokenFile }),
    ...(site === undefined ? {} : { site }),
    ...(labels === undefined ? {} : { labels }),
  };
}

type TelemetryConfig = NonNullable<z.infer<typeof ConfigSchema>['telemetry']>;

function telemetryOptions(t: TelemetryConfig, scrub: NonNullable<TelemetryConfig['logs']>['scrub']): NodeTelemetryOptions {
  return {
    ...(t.profile === undefined ? {} : { profile: t.profile }),
    ...(t.queueSize === undefined ? {} : { queueBytes: typeof t.queueSize === 'number' ? t.queueSize : parseSize(t.queueSize, 'telemetry.queueSize') }),
    ...(t.logQueueSize === undefined
      ? {}
      : { logQueueBytes: typeof t.logQueueSize === 'number' ? t.logQueueSize : parseSize(t.logQueueSize, 'telemetry.logQueueSize') }),
    ...(t.metricsListen === undefined ? {} : { metricsListen: t.metricsListen }),
    ...(t.replayPerSecond === undefined ? {} : { replayPerSecond: t.replayPerSecond }),
    ...(t.alerts === undefined ? {} : { alerts: t.alerts }),
    ...(t.logs?.ratePerSecond === undefined ? {} : { logRatePerSecond: t.logs.ratePerSecond }),
    ...(scrub === undefined
      ? {}
      : {
          scrub: { ...(scrub.rules === undefined ? {} : { rules: scrub.rules }), ...(scrub.dropFields === undefined ? {} : { dropFields: scrub.dropFields }) },
        }),
  };
}
