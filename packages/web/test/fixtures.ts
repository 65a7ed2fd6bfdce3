/** Small builders of API shapes for the dashboard's tests. */
import { type RolloutStrategyInput, RolloutStrategySchema, type WorkloadState } from '@edgefleet/protocol';
import type { AlertView, DeploymentView, Node, RolloutEvent, RolloutStatus } from '../src/types.js';

export function node(
  id: string,
  o: { site?: string; status?: 'online' | 'offline'; labels?: Record<string, string>; lastSeen?: string | null; temperatureC?: number } = {},
): Node {
  const labels = {
    'geolocation.site': o.site ?? 'site-a',
    'cpu.arch': 'arm64',
    'ai.accelerator': 'hailo8l',
    'firmware.version': '20240101',
    ...(o.labels ?? {}),
  };
  return {
    id,
    name: `edge-${id}`,
    site: labels['geolocation.site'] ?? null,
    labels,
    detectedLabels: labels,
    operatorLabels: {},
    status: o.status ?? 'online',
    lastSeen: o.lastSeen === undefined ? '2025-01-01T00:00:00.000Z' : o.lastSeen,
    facts: o.temperatureC === undefined ? {} : { thermal: { temperatureC: o.temperatureC, throttledBits: 0 } },
    certificate: { serial: 'aa', notAfter: '2030-01-01T00:00:00.000Z' },
    createdAt: '2025-01-01T00:00:00.000Z',
  };
}

export function deployment(
  name: string,
  revision: number,
  lines: Array<{ nodeId: string; revision: number | null; state: WorkloadState }>,
  rollout?: RolloutStrategyInput,
): DeploymentView {
  return {
    apiVersion: 'edgefleet.dev/v1',
    kind: 'Deployment',
    metadata: { name, generation: revision, source: null, createdAt: '2025-01-01T00:00:00.000Z', updatedAt: '2025-01-01T00:00:00.000Z' },
    spec: {
      selector: 'cpu.arch=arm64',
      release: {
        version: `${revision}.0.0`,
        model: { artifact: `sha256:${'a'.repeat(64)}`, format: 'onnx' },
        runtime: { kind: 'model-server', accelerator: 'none' },
        health: { path: '/v2/health/ready', interval: '5s', failureThreshold: 3, window: '30s' },
      },
      ...(rollout === undefined ? {} : { rollout: RolloutStrategySchema.parse(rollout) }),
    },
    status: {
      revision,
      generation: revision,
      observedGeneration: revision,
      conditions: [{ type: 'Ready', status: 'True', reason: 'AllNodesServing', message: '' }],
      nodes: lines.map((l) => ({
        node: `edge-${l.nodeId}`,
        nodeId: l.nodeId,
        revision: l.revision,
        state: l.state,
        reason: null,
        endpoint: null,
        message: null,
      })),
    },
  };
}

export function alert(nodeId: string, name = 'NodeHot'): AlertView {
  return {
    node: `edge-${nodeId}`,
    nodeId,
    site: 'site-a',
    name,
    state: 'firing',
    severity: 'warning',
    since: '2025-01-01T00:00:00.000Z',
    message: 'hot',
    labels: {},
    reportedAt: '2025-01-01T00:00:00.000Z',
  };
}

const measured = (p95: number | null, baseline: number | null) => ({
  canaryNodes: 1,
  canaryRequests: 100,
  canaryErrors: 0,
  errorRate: 0,
  maxRestarts: 0,
  fallbackRate: 0,
  p95LatencyMs: p95,
  baselineNodes: 2,
  baselineRequests: 200,
  baselineP95LatencyMs: baseline,
  p95LatencyRatio: p95 !== null && baseline !== null ? p95 / baseline : null,
  cohortsCompared: 1,
  cohortsOnFleetBaseline: 0,
});
const thresholds = { minRequests: 30, p95LatencyRatio: 2, maxP95LatencyMs: null, maxErrorRate: 0.05, maxRestarts: 3, maxFallbackRate: 0.5 };

export function rollout(deployment: string, o: Partial<RolloutStatus> & { evaluatedAt?: string; p95?: number; baseline?: number } = {}): RolloutStatus {
  return {
    deployment,
    revision: o.revision ?? 2,
    fromRevision: o.fromRevision === undefined ? 1 : o.fromRevision,
    phase: o.phase ?? 'Progressing',
    step: o.step ?? 1,
    steps: o.steps ?? 3,
    nodes: o.nodes ?? { total: 3, updated: 1, pending: 2, deferred: 0, failed: 0, rolledBack: 0 },
    gate:
      o.evaluatedAt === undefined
        ? null
        : {
            evaluatedAt: o.evaluatedAt,
            result: 'hold',
            reason: 'InsufficientData',
            measured: measured(o.p95 ?? 10, o.baseline ?? 8),
            thresholds,
            message: 'insufficient data',
            gates: [],
          },
    conditions: [{ type: 'Progressing', status: 'True', reason: 'Baking', message: 'step 1 bakes' }],
  };
}

export function event(
  deployment: string,
  seq: number,
  time: string,
  o: { gateAt?: number; p95?: number; baseline?: number; revision?: number } = {},
): RolloutEvent {
  return {
    deployment,
    seq,
    time,
    at: Date.parse(time),
    type: o.gateAt === undefined ? 'StepStarted' : 'GatePassed',
    revision: o.revision ?? 2,
    step: 1,
    message: `event ${seq}`,
    ...(o.gateAt === undefined
      ? {}
      : { gate: { result: 'pass', reason: 'GatesPassed', message: '', evaluatedAt: o.gateAt, measured: measured(o.p95 ?? 10, o.baseline ?? 8), thresholds } }),
  };
}
