/** Local alert rules, evaluated on the node (also offline). */
export {
  type ActiveAlert,
  ALERT_FOR_MS,
  ALERT_NAMES,
  ALERT_SEVERITY,
  type AlertChange,
  type AlertEvaluation,
  type AlertInput,
  type AlertName,
  type AlertRules,
  AlertRulesSchema,
  alertKey,
  DEFAULT_ALERT_THRESHOLDS,
  evaluateAlerts,
  parseAlertRules,
} from './rules.js';
