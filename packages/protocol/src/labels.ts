import { EdgefleetError } from './errors.js';

/**
 * Label rules, as Kubernetes has them, so selectors and label sets copy across:
 * a key is an optional DNS-subdomain prefix (≤253 chars) and `/`, then a name of ≤63
 * characters of [A-Za-z0-9._-] that starts and ends alphanumeric; a value is empty or
 * ≤63 characters of the same alphabet, starting and ending alphanumeric.
 */
const NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** A map of label key to value. */
export type Labels = Record<string, string>;

/** Returns why `key` is not a valid label key, or undefined when it is. */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.indexOf('/');
  const name = slash === -1 ? key : key.slice(slash + 1);
  if (slash !== -1) {
    const prefix = key.slice(0, slash);
    if (prefix.length === 0 || prefix.length > 253 || !prefix.split('.').every((p) => DNS_LABEL.test(p))) {
      return `prefix "${prefix}" must be a lowercase DNS subdomain of at most 253 characters`;
    }
  }
  if (name.length === 0) return 'name part must not be empty';
  if (name.length > 63) return 'name part must be at most 63 characters';
  if (!NAME.test(name)) return 'name part may hold only letters, digits, ".", "_" and "-", and must start and end with a letter or digit';
  return undefined;
}

/** Returns why `value` is not a valid label value, or undefined when it is. */
export function labelValueProblem(value: string): string | undefined {
  if (value === '') return undefined;
  if (value.length > 63) return 'value must be at most 63 characters';
  if (!NAME.test(value)) return 'value may hold only letters, digits, ".", "_" and "-", and must start and end with a letter or digit';
  return undefined;
}

/** Throws a 400 `invalid_label` naming the label when the key or value breaks the rules. */
export function assertValidLabel(key: string, value: string): void {
  const keyProblem = labelKeyProblem(key);
  if (keyProblem !== undefined) {
    throw new EdgefleetError({
      code: 'invalid_label',
      message: `invalid label key "${key}": ${keyProblem}`,
      hint: 'label keys look like "geolocation.site" or "example.com/zone"',
      field: `labels.${key}`,
    });
  }
  const valueProblem = labelValueProblem(value);
  if (valueProblem !== undefined) {
    throw new EdgefleetError({
      code: 'invalid_label',
      message: `invalid value "${value}" for label "${key}": ${valueProblem}`,
      hint: 'label values look like "warehouse-east" or "20231206"',
      field: `labels.${key}`,
    });
  }
}

/** Validates every label of a set; see {@link assertValidLabel}. */
export function assertValidLabels(labels: Labels): void {
  for (const [k, v] of Object.entries(labels)) assertValidLabel(k, v);
}

/** Parses `k=v` (a label to set) or `k-` (a label to remove), as `kubectl label` does. */
export function parseLabelArg(arg: string): { key: string; value: string } | { key: string; remove: true } {
  if (arg.endsWith('-') && !arg.includes('=')) {
    const key = arg.slice(0, -1);
    const problem = labelKeyProblem(key);
    if (problem !== undefined) throw invalidArg(arg, problem);
    return { key, remove: true };
  }
  const eq = arg.indexOf('=');
  if (eq <= 0) throw invalidArg(arg, 'expected key=value to set a label or key- to remove one');
  const key = arg.slice(0, eq);
  const value = arg.slice(eq + 1);
  assertValidLabel(key, value);
  return { key, value };
}

function invalidArg(arg: string, problem: string): EdgefleetError {
  return new EdgefleetError({
    code: 'invalid_label',
    message: `invalid label argument "${arg}": ${problem}`,
    hint: 'write labels as key=value, and key- to remove one',
    field: 'labels',
  });
}
