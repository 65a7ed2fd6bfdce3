import { nfdLabelName } from '@edgefleet/agent';
import {
  type AcceleratorKind,
  type DeploymentSpec,
  errors,
  parseCpu,
  parseDuration,
  parseMemory,
  parseSelector,
  type Selector,
  selectorFromMatch,
} from '@edgefleet/protocol';

/**
 * `edgefleet export k8s`: a Deployment as a Kubernetes workload for nodes that run k3s
 * (sites kept on Fleet or Argo CD). Pure: a deployment in, a manifest object out. What maps
 * to what, and what cannot (docs/ARCHITECTURE.md, "Nodes that run k3s"):
 * - kind: a DaemonSet by default (every selected node runs the workload, as edgefleet does),
 *   or a Deployment with `replicas`.
 * - `spec.selector` → `nodeSelector` (each `key=value`) and required node affinity (the
 *   rest: In with several values, NotIn, Exists, DoesNotExist), with the label names NFD
 *   gives the node from the agent's feature file (`feature.node.kubernetes.io/edgefleet-<key>`).
 * - the release's runtime must be `container`: the image, command and args, env, ports,
 *   CPU and memory limits. A `model-server` or `process` release runs code the agent brings
 *   to the node (its model server, a program and an artifact from the edgefleet server);
 *   Kubernetes has no image to start for it, so such a release is refused.
 * - `accelerator: required` (or `preferred` where the selector pins one kind) asks for
 *   `edgefleet.dev/<kind>: 1`, which the agent's device plugin advertises; the kind comes
 *   from `ai.accelerator` in the selector (or `--accelerator`).
 * - `release.health` → readiness and liveness probes (HTTP GET on the inference port) and
 *   its `window` → `minReadySeconds`; `spec.endpoint.port` → the inference port's `hostPort`.
 * - isolation as on an edgefleet node: non-root (uid 65534), read-only root filesystem with
 *   a memory-backed /tmp, no privilege escalation, every capability dropped but those the
 *   release keeps, the runtime's default seccomp profile, no service account token.
 * Not exported (Kubernetes has no equivalent): the fallback, staged rollout gates, release
 * signatures and cosign verification; the manifest's annotations say which were dropped.
 */

/** Options of {@link kubernetesWorkload}. */
export interface K8sExportOptions {
  kind: 'DaemonSet' | 'Deployment';
  namespace?: string;
  /** Deployment only (default 1). */
  replicas?: number;
  /** The accelerator kind to request when the selector does not pin one. */
  accelerator?: AcceleratorKind;
}

/** The deployment as read from the server (`deployments get`). */
export interface ExportedDeployment {
  metadata: { name: string };
  spec: DeploymentSpec;
  status?: { revision: number };
}

const ACCELERATOR_LABEL = 'ai.accelerator';
/** The label every exported object carries and the workload selects its pods by. */
const NAME_LABEL = 'app.kubernetes.io/name';
/** The unprivileged user edgefleet's workloads map to (nobody). */
const WORKLOAD_UID = 65534;

type Json = Record<string, unknown>;

/** The Kubernetes workload for a deployment; throws a clear error for what cannot be exported. */
export function kubernetesWorkload(d: ExportedDeployment, opts: K8sExportOptions): Json {
  const name = d.metadata.name;
  const release = d.spec.release;
  const runtime = release.runtime;
  if (runtime.kind !== 'container' || runtime.image === undefined) {
    throw errors.config(
      `deployment "${name}" runs a ${runtime.kind} release, which has no container image for Kubernetes to run`,
      'only releases with runtime.kind: container can be exported; build the model server and model into an image and release that',
    );
  }
  const selector = selectorOf(d.spec.selector);
  const scheduling = nodeScheduling(selector);
  const kind = acceleratorKind(name, selector, runtime.accelerator, opts.accelerator);
  const ports = runtime.ports ?? [{ name: 'inference', containerPort: 8080 }];
  const inference = ports.find((p) => p.name === 'inference') ?? ports[0];
  const limits: Json = {
    ...(runtime.resources?.cpu === undefined ? {} : { cpu: `${parseCpu(runtime.resources.cpu)}m` }),
    ...(runtime.resources?.memory === undefined ? {} : { memory: String(parseMemory(runtime.resources.memory)) }),
    ...(kind === undefined ? {} : { [`edgefleet.dev/${kind}`]: '1' }),
  };
  const env = { ...(release.env ?? {}), ...(runtime.env ?? {}) };
  const periodSeconds = Math.max(1, Math.round(parseDuration(release.health.interval) / 1000));
  const probe = (failureThreshold: number): Json => ({
    httpGet: { path: release.health.path, port: inference?.name ?? 'inference' },
    periodSeconds,
    failureThreshold,
  });
  const container: Json = {
    name: 'workload',
    image: runtime.image,
    imagePullPolicy: 'IfNotPresent',
    ...(runtime.command === undefined ? {} : { command: [runtime.command] }),
    ...(runtime.args === undefined ? {} : { args: runtime.args }),
    ...(Object.keys(env).length === 0 ? {} : { env: Object.entries(env).map(([k, v]) => ({ name: k, value: v })) }),
    ports: ports.map((p) => ({
      name: p.name,
      containerPort: p.containerPort,
      protocol: 'TCP',
      ...(p === inference && d.spec.endpoint !== undefined ? { hostPort: d.spec.endpoint.port } : {}),
    })),
    ...(Object.keys(limits).length === 0 ? {} : { resources: { limits, requests: limits } }),
    readinessProbe: probe(release.health.failureThreshold),
    // Liveness gives a slow start more room than readiness: a restart is the costlier answer.
    livenessProbe: probe(release.health.failureThreshold * 2),
    securityContext: {
      runAsNonRoot: true,
      runAsUser: WORKLOAD_UID,
      runAsGroup: WORKLOAD_UID,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'], ...(runtime.capabilities === undefined || runtime.capabilities.length === 0 ? {} : { add: [...runtime.capabilities] }) },
    },
    volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
  };
  const labels = { [NAME_LABEL]: name, 'app.kubernetes.io/managed-by': 'edgefleet-export' };
  const podSpec: Json = {
    ...scheduling,
    automountServiceAccountToken: false,
    securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
    containers: [container],
    volumes: [{ name: 'tmp', emptyDir: { medium: 'Memory' } }],
  };
  const spec: Json = {
    ...(opts.kind === 'Deployment' ? { replicas: opts.replicas ?? 1 } : {}),
    selector: { matchLabels: { [NAME_LABEL]: name } },
    minReadySeconds: Math.round(parseDuration(release.health.window) / 1000),
    template: { metadata: { labels }, spec: podSpec },
  };
  return {
    apiVersion: 'apps/v1',
    kind: opts.kind,
    metadata: {
      name,
      ...(opts.namespace === undefined ? {} : { namespace: opts.namespace }),
      labels,
      annotations: exportNotes(d, kind),
    },
    spec,
  };
}

function selectorOf(spec: DeploymentSpec['selector']): Selector {
  return typeof spec === 'string' ? parseSelector(spec) : selectorFromMatch(spec);
}

/** The NFD label name of a selector key, or a clear refusal. */
function nodeLabel(key: string): string {
  const label = nfdLabelName(key);
  if (label === undefined) {
    throw errors.config(
      `selector key "${key}" has no Kubernetes node label: NFD does not publish it`,
      'select on labels the agent reports, or on your own prefixed labels (example.com/zone)',
    );
  }
  return label;
}

/**
 * `key=value` requirements become `nodeSelector`; every other requirement a term of the
 * required node affinity (one term: all its expressions must hold, as all of a selector's
 * requirements must).
 */
function nodeScheduling(selector: Selector): Json {
  const nodeSelector: Record<string, string> = {};
  const expressions: Json[] = [];
  for (const r of selector) {
    const key = nodeLabel(r.key);
    if (r.operator === 'In' && r.values.length === 1 && !(key in nodeSelector)) nodeSelector[key] = r.values[0] as string;
    else expressions.push({ key, operator: r.operator, ...(r.operator === 'In' || r.operator === 'NotIn' ? { values: [...r.values] } : {}) });
  }
  return {
    ...(Object.keys(nodeSelector).length === 0 ? {} : { nodeSelector }),
    ...(expressions.length === 0
      ? {}
      : { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: expressions }] } } } }),
  };
}

/** The one accelerator kind the selected nodes have, when the selector pins it. */
function pinnedKind(selector: Selector): string | undefined {
  const r = selector.find((q) => q.key === ACCELERATOR_LABEL && q.operator === 'In' && q.values.length === 1);
  return r?.values[0];
}

function acceleratorKind(
  name: string,
  selector: Selector,
  wants: 'required' | 'preferred' | 'none',
  given: AcceleratorKind | undefined,
): AcceleratorKind | undefined {
  if (wants === 'none') return undefined;
  const kind = given ?? pinnedKind(selector);
  if (kind === undefined || kind === 'none') {
    // Kubernetes cannot fall back to the CPU: a preferred accelerator is asked for only where every selected node has it.
    if (wants === 'preferred') return undefined;
    throw errors.config(
      `deployment "${name}" requires an accelerator, but its selector does not pin one kind (${ACCELERATOR_LABEL}=<kind>), so there is no resource to request`,
      'add ai.accelerator=hailo8l (or another kind) to the selector, or pass --accelerator KIND',
    );
  }
  return kind as AcceleratorKind;
}

/** Annotations saying where the object came from and what did not carry over. */
function exportNotes(d: ExportedDeployment, kind: AcceleratorKind | undefined): Record<string, string> {
  const release = d.spec.release;
  const dropped = [
    ...(release.fallback === undefined ? [] : ['fallback']),
    ...(d.spec.rollout === undefined ? [] : ['rollout gates']),
    ...(release.signature === undefined ? [] : ['release signature']),
    ...(release.verify === undefined ? [] : ['cosign verification']),
    ...(release.runtime.accelerator === 'preferred' && kind === undefined ? ['preferred accelerator (selector pins no kind)'] : []),
  ];
  return {
    'edgefleet.dev/deployment': d.metadata.name,
    'edgefleet.dev/release-version': release.version,
    ...(d.status === undefined ? {} : { 'edgefleet.dev/revision': String(d.status.revision) }),
    ...(dropped.length === 0 ? {} : { 'edgefleet.dev/not-exported': dropped.join(', ') }),
  };
}
