/**
 * docs/API.md, rendered from the route table (`npm run docs:api` writes it; a unit test
 * fails when the file is stale). Shapes are printed in a TypeScript-like notation straight
 * from the zod schemas; the shapes used in several places are named and written out once.
 * Not exported from the package root: only the docs script and its test load it.
 */
import type { z } from 'zod';
import { DesiredStateSchema, TrustedKeySchema, WorkloadStatusSchema } from '../desired.js';
import { ERROR_CODES } from '../errors.js';
import { DeploymentSpecSchema, ReleaseSchema } from '../manifest.js';
import { RolloutStrategySchema } from '../rollout-strategy.js';
import { AlertViewSchema, LogLineSchema, TelemetrySettingsSchema } from '../telemetry/api.js';
import { ArtifactInfoSchema, HardwareFactsSchema, NodeSchema } from '../wire.js';
import { callersOf, type RouteSpec, routeList } from './routes.js';
import {
  AuditEntrySchema,
  DeploymentStatusSchema,
  DeploymentViewSchema,
  GateMeasuredSchema,
  GateThresholdsSchema,
  RevisionViewSchema,
  RolloutEventViewSchema,
  RolloutStatusSchema,
  SourceViewSchema,
} from './views.js';

/** Shapes written out once under their name and referred to by it. */
const NAMED: ReadonlyArray<readonly [string, z.ZodType]> = [
  ['Node', NodeSchema],
  ['HardwareFacts', HardwareFactsSchema],
  ['WorkloadStatus', WorkloadStatusSchema],
  ['DesiredState', DesiredStateSchema],
  ['TrustedKey', TrustedKeySchema],
  ['Release', ReleaseSchema],
  ['DeploymentSpec', DeploymentSpecSchema],
  ['RolloutStrategy', RolloutStrategySchema],
  ['DeploymentView', DeploymentViewSchema],
  ['DeploymentStatus', DeploymentStatusSchema],
  ['RevisionView', RevisionViewSchema],
  ['RolloutStatus', RolloutStatusSchema],
  ['GateMeasured', GateMeasuredSchema],
  ['GateThresholds', GateThresholdsSchema],
  ['RolloutEvent', RolloutEventViewSchema],
  ['SourceView', SourceViewSchema],
  ['AuditEntry', AuditEntrySchema],
  ['ArtifactInfo', ArtifactInfoSchema],
  ['AlertView', AlertViewSchema],
  ['LogLine', LogLineSchema],
  ['TelemetrySettings', TelemetrySettingsSchema],
];
const NAME_OF = new Map<unknown, string>(NAMED.map(([name, schema]) => [schema, name]));

interface Def {
  type: string;
  [key: string]: unknown;
}
const defOf = (schema: unknown): Def => (schema as { _zod: { def: Def } })._zod.def;

/** A zod schema in TypeScript-like notation; named shapes by name (except `self`). */
export function renderShape(schema: z.ZodType, indent = '', self?: z.ZodType): string {
  const name = NAME_OF.get(schema);
  if (name !== undefined && schema !== self) return name;
  const def = defOf(schema);
  const inner = (s: unknown) => renderShape(s as z.ZodType, indent, self);
  switch (def.type) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'null':
    case 'undefined':
    case 'unknown':
    case 'any':
    case 'bigint':
      return def.type;
    case 'int':
      return 'number';
    case 'literal':
      return (def.values as unknown[]).map((v) => JSON.stringify(v)).join(' | ');
    case 'enum':
      return Object.values(def.entries as Record<string, string>)
        .map((v) => JSON.stringify(v))
        .join(' | ');
    case 'array': {
      const el = inner(def.element);
      return /[ |]/.test(el) && !el.startsWith('{') ? `Array<${el}>` : `${el}[]`;
    }
    case 'record':
      return `{ [key: ${inner(def.keyType)}]: ${inner(def.valueType)} }`;
    case 'nullable':
      return `${inner(def.innerType)} | null`;
    case 'optional':
    case 'default':
    case 'prefault':
    case 'catch':
    case 'readonly':
    case 'nonoptional':
      return inner(def.innerType);
    case 'pipe':
      return inner(defOf(def.in).type === 'transform' ? def.out : def.in);
    case 'union':
      return (def.options as unknown[]).map(inner).join(' | ');
    case 'intersection':
      return `${inner(def.left)} & ${inner(def.right)}`;
    case 'object':
      return renderObject(def, indent, self);
    default:
      return 'unknown';
  }
}

function renderObject(def: Def, indent: string, self: z.ZodType | undefined): string {
  const shape = def.shape as Record<string, z.ZodType>;
  const keys = Object.keys(shape);
  const open = def.catchall !== undefined && defOf(def.catchall).type !== 'never';
  if (keys.length === 0) return open ? '{ [key: string]: unknown }' : '{}';
  const next = `${indent}  `;
  const fields = keys.map((key) => {
    const field = shape[key] as z.ZodType;
    const d = defOf(field);
    const optional = d.type === 'optional' || d.type === 'default' || d.type === 'prefault';
    const fallback =
      d.type === 'default' ? ` (default ${JSON.stringify(typeof d.defaultValue === 'function' ? (d.defaultValue as () => unknown)() : d.defaultValue)})` : '';
    return `${next}${key}${optional ? '?' : ''}: ${renderShape(field, next, self)}${fallback}`;
  });
  if (open) fields.push(`${next}...`);
  const oneLine = `{ ${fields.map((f) => f.trim()).join(', ')} }`;
  if (oneLine.length <= 100 && !oneLine.includes('\n')) return oneLine;
  return `{\n${fields.join('\n')}\n${indent}}`;
}

function callerText(route: RouteSpec): string {
  const kinds = callersOf(route).map((k) => (k === 'public' ? 'anyone' : k === 'node' ? 'node certificate' : `${k} token`));
  return kinds.join(' or ');
}

function bodyText(route: RouteSpec): string | undefined {
  const b = route.body;
  if (b === undefined) return undefined;
  if (b.kind === 'json') return `\`\`\`ts\n${renderShape(b.schema)}\n\`\`\``;
  return `\`${b.contentType}\`: ${b.description}, at most ${formatBytes(b.maxBytes)}`;
}

function responseText(route: RouteSpec): string {
  const r = route.response;
  switch (r.kind) {
    case 'json':
      return `${r.status}${r.notModified === true ? ' (or 304, no body)' : ''}${r.noContent === true ? ' (or 204, no body, when unchanged)' : ''}\n\n\`\`\`ts\n${renderShape(r.schema)}\n\`\`\``;
    case 'empty':
      return '204, no body';
    case 'text':
      return `200 \`${r.contentType}\``;
    case 'bytes':
      return `200 (206 for a range) \`${r.contentType}\`: ${r.description}`;
    case 'sse':
      return `200 \`text/event-stream\`, events:\n\n\`\`\`ts\n${Object.entries(r.events)
        .map(([name, schema]) => `${name}: ${renderShape(schema)}`)
        .join('\n')}\n\`\`\``;
    case 'static':
      return '200, static files';
  }
}

function formatBytes(n: number): string {
  return n >= 1024 ** 3 ? `${n / 1024 ** 3} GiB` : `${n / 1024 ** 2} MiB`;
}

const HEADER = `# HTTP API (v1)

<!-- Generated by \`npm run docs:api\` from the route table in packages/protocol/src/api/routes.ts. Do not edit: change the table (or the header in packages/protocol/src/api/docs.ts) and run it again. -->

HTTPS only. JSON bodies, at most 1 MiB (larger: 413). Every error is
\`{"error":{"code","message","hint","field"?}}\` with a 4xx status (5xx only for faults of
the server, whose details stay in its log). A 429 or 503 may carry \`Retry-After\`.

Every route below, with its shapes, comes from the route table
(\`packages/protocol/src/api/routes.ts\`); the server registers its routes from it and the
client (\`ApiClient\`, \`EdgefleetClient\`) is generated from it.

## Authentication

| who | how |
| --- | --- |
| operators | \`Authorization: Bearer efa_<id>_<secret>\`; role \`viewer\` (read), \`operator\` (+ label nodes, bootstrap tokens, apply, rollouts, sources, artifacts), \`admin\` (+ API tokens, release keys, decommissioning) |
| agents | TLS client certificate issued by the fleet CA; the node is whoever its CN names, never the body. No certificate, or one not from this CA or expired: 401. Revoked, or its node deleted: 403 |
| enrollment | a bootstrap token in the body |

## Bootstrap token form

\`EF1<sha256 of the CA certificate's DER, 64 hex>::<id, 12 hex>.<secret, 43 base64url>\`,
after k3s's \`K10<ca-hash>::user:pass\`. Only the secret's SHA-256 is stored.

## Nodes

A node's \`labels\` are the effective set: detected, overridden by operator labels; \`site\` is
the effective \`geolocation.site\`; \`status\` is \`online\` while the last heartbeat is younger
than three intervals, else \`offline\`; \`facts\` is the hardware probe's output. Heartbeats
carry \`stats\` for the interval since the previous report (see ARCHITECTURE.md, staged
rollouts) and \`workloads\`, one \`WorkloadStatus\` per deployment.
`;

function errorTable(): string {
  const rows = Object.entries(ERROR_CODES).map(([code, info]) => `| \`${code}\` | ${info.status === 0 ? '— (client side)' : info.status} | ${info.retry} |`);
  return `## Errors

Every error code, its HTTP status and how a client should react: \`transient\` (retry with
backoff), \`wait\` (ask again later; not a failure), \`terminal\` (no retry fixes it).

| code | status | retry |
| --- | --- | --- |
${rows.join('\n')}
`;
}

/** The whole of docs/API.md. */
export function renderApiDocs(): string {
  const byResource = new Map<string, ReturnType<typeof routeList>>();
  for (const route of routeList()) byResource.set(route.resource, [...(byResource.get(route.resource) ?? []), route]);
  const sections: string[] = [HEADER, errorTable(), '## Routes\n'];
  const index = routeList().map((r) => `| \`${r.method} ${r.path}\` | ${callerText(r)} | \`${r.name}\` |`);
  sections.push(`| route | caller | client name |\n| --- | --- | --- |\n${index.join('\n')}\n`);
  for (const [resource, list] of byResource) {
    sections.push(`### ${resource[0]?.toUpperCase()}${resource.slice(1)}\n`);
    for (const r of list) {
      const lines = [`#### \`${r.method} ${r.path}\` (\`${r.name}\`)`, '', `${r.summary} Caller: ${callerText(r)}.`, ''];
      if (r.params !== undefined) lines.push(`Params: \`${renderShape(r.params)}\``, '');
      if (r.query !== undefined) lines.push(`Query: \`${renderShape(r.query).replace(/\n\s*/g, ' ')}\``, '');
      const body = bodyText(r);
      if (body !== undefined) lines.push(`Body: ${body}`, '');
      lines.push(`Response: ${responseText(r)}`, '');
      sections.push(lines.join('\n'));
    }
  }
  sections.push('## Shapes\n');
  for (const [name, schema] of NAMED) sections.push(`### ${name}\n\n\`\`\`ts\n${renderShape(schema, '', schema)}\n\`\`\`\n`);
  return `${sections.join('\n').trimEnd()}\n`;
}
