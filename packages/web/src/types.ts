/**
 * The API's JSON shapes as the dashboard reads them: all from the route table in
 * @edgefleet/protocol (types only, erased at build).
 */
export type {
  AlertView,
  AuditEntry,
  DeploymentView,
  GateMeasured,
  GateThresholds,
  GateVerdict,
  LatestValues,
  LogLine,
  LogList,
  Node,
  NodeTelemetry,
  Release,
  RevisionView,
  Role,
  RolloutCommand,
  RolloutEventView as RolloutEvent,
  RolloutPhase,
  RolloutStatus,
  Upserts,
  WatchEvent,
  Whoami,
} from '@edgefleet/protocol';
