/**
 * Status words with a colour and a shape, never colour alone: each badge reads as text, so
 * it works for colour-blind operators and screen readers alike.
 */
import type { NodeHealth } from '../selectors.js';

type Tone = 'ok' | 'warn' | 'bad' | 'info' | 'muted';

const HEALTH_TONE: Record<NodeHealth, Tone> = { online: 'ok', degraded: 'warn', offline: 'bad' };
const STATE_TONE: Record<string, Tone> = {
  running: 'ok',
  degraded: 'warn',
  pending: 'muted',
  downloading: 'info',
  starting: 'info',
  failed: 'bad',
  'verification-failed': 'bad',
  stopped: 'muted',
};
const PHASE_TONE: Record<string, Tone> = {
  Progressing: 'info',
  Holding: 'info',
  Paused: 'warn',
  Succeeded: 'ok',
  RolledBack: 'bad',
  Aborted: 'bad',
};
const GATE_TONE: Record<string, Tone> = { pass: 'ok', hold: 'info', fail: 'bad' };

export function Badge(props: { tone: Tone; children: string; title?: string }) {
  return (
    <span className={`badge badge-${props.tone}`} title={props.title}>
      {props.children}
    </span>
  );
}

export function HealthBadge(props: { health: NodeHealth }) {
  return <Badge tone={HEALTH_TONE[props.health]}>{props.health}</Badge>;
}

export function StateBadge(props: { state: string; title?: string }) {
  return (
    <Badge tone={STATE_TONE[props.state] ?? 'muted'} {...(props.title === undefined ? {} : { title: props.title })}>
      {props.state}
    </Badge>
  );
}

export function PhaseBadge(props: { phase: string }) {
  return <Badge tone={PHASE_TONE[props.phase] ?? 'muted'}>{props.phase}</Badge>;
}

export function GateBadge(props: { result: string }) {
  return <Badge tone={GATE_TONE[props.result] ?? 'muted'}>{props.result}</Badge>;
}
