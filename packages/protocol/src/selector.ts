import { EdgefleetError } from './errors.js';
import { type Labels, labelKeyProblem, labelValueProblem } from './labels.js';

/**
 * Label selectors with Kubernetes semantics. Both spellings (the kubectl string
 * `site=a,tier in (x,y),!legacy` and `matchLabels`/`matchExpressions`) become one list of
 * requirements that must all hold. As in Kubernetes, `k!=v` and `k notin (…)` also match
 * nodes that have no label `k` at all.
 */
type SelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

/** One requirement of a selector: every requirement must match. */
interface Requirement {
  key: string;
  operator: SelectorOperator;
  /** Values for In/NotIn (at least one); empty for Exists/DoesNotExist. */
  values: string[];
}

/** A parsed selector. The empty selector matches every node. */
export type Selector = readonly Requirement[];

function selectorError(text: string, problem: string): EdgefleetError {
  return new EdgefleetError({
    code: 'invalid_selector',
    message: `invalid label selector "${text}": ${problem}`,
    hint: 'selectors look like "k=v", "k!=v", "k in (a,b)", "k notin (a,b)", "k" or "!k", joined by commas',
    field: 'selector',
  });
}

type Token = ({ kind: 'word'; text: string } | { kind: 'op'; text: '=' | '==' | '!=' | '!' | '(' | ')' | ',' }) & { pos: number };

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (c === ' ' || c === '\t') {
      i++;
    } else if (c === '!' && text[i + 1] === '=') {
      tokens.push({ kind: 'op', text: '!=', pos: i });
      i += 2;
    } else if (c === '=' && text[i + 1] === '=') {
      tokens.push({ kind: 'op', text: '==', pos: i });
      i += 2;
    } else if (c === '=' || c === '!' || c === '(' || c === ')' || c === ',') {
      tokens.push({ kind: 'op', text: c, pos: i });
      i++;
    } else {
      let j = i;
      while (j < text.length && !' \t=!(),'.includes(text[j] as string)) j++;
      tokens.push({ kind: 'word', text: text.slice(i, j), pos: i });
      i = j;
    }
  }
  return tokens;
}

/** Parses a kubectl-style selector string. Throws `invalid_selector` (400) with the reason. */
export function parseSelector(text: string): Selector {
  const tokens = tokenize(text);
  const reqs: Requirement[] = [];
  let pos = 0;
  // Errors say where: the character position (1-based) of the token that did not fit.
  const at = (): string => ` at position ${(tokens[pos]?.pos ?? text.length) + 1}`;
  const atPrevious = (): string => ` at position ${(tokens[pos - 1]?.pos ?? 0) + 1}`;
  const peek = (): Token | undefined => tokens[pos];
  const word = (what: string): string => {
    const t = tokens[pos];
    if (t === undefined || t.kind !== 'word') throw selectorError(text, `expected ${what}${t ? ` but found "${t.text}"` : ' at the end'}`);
    pos++;
    return t.text;
  };
  const checkKey = (key: string): string => {
    const problem = labelKeyProblem(key);
    if (problem !== undefined) throw selectorError(text, `key "${key}": ${problem}${atPrevious()}`);
    return key;
  };
  const checkValue = (value: string): string => {
    const problem = labelValueProblem(value);
    if (problem !== undefined) throw selectorError(text, `value "${value}": ${problem}${atPrevious()}`);
    return value;
  };
  if (tokens.length === 0) return reqs;
  for (;;) {
    const first = peek();
    if (first?.kind === 'op' && first.text === '!') {
      pos++;
      reqs.push({ key: checkKey(word('a label key after "!"')), operator: 'DoesNotExist', values: [] });
    } else {
      const key = checkKey(word('a label key'));
      const next = peek();
      if (next === undefined || (next.kind === 'op' && next.text === ',')) {
        reqs.push({ key, operator: 'Exists', values: [] });
      } else if (next.kind === 'op' && (next.text === '=' || next.text === '==' || next.text === '!=')) {
        pos++;
        // An empty value is legal (`k=`), so a missing word before "," or the end means "".
        const after = peek();
        const value = after?.kind === 'word' ? word('a value') : '';
        reqs.push({ key, operator: next.text === '!=' ? 'NotIn' : 'In', values: [checkValue(value)] });
      } else if (next.kind === 'word' && (next.text === 'in' || next.text === 'notin')) {
        pos++;
        const open = peek();
        if (open?.kind !== 'op' || open.text !== '(') throw selectorError(text, `expected "(" after "${next.text}"${at()}`);
        pos++;
        const values: string[] = [];
        for (;;) {
          const t = peek();
          if (t?.kind === 'word') {
            values.push(checkValue(t.text));
            pos++;
          }
          const sep = peek();
          if (sep?.kind === 'op' && sep.text === ',') {
            pos++;
            continue;
          }
          if (sep?.kind === 'op' && sep.text === ')') {
            pos++;
            break;
          }
          throw selectorError(text, `expected "," or ")" in the value list of "${key}"${at()}`);
        }
        if (values.length === 0) throw selectorError(text, `"${key} ${next.text} ()" needs at least one value${at()}`);
        reqs.push({ key, operator: next.text === 'in' ? 'In' : 'NotIn', values });
      } else {
        throw selectorError(text, `unexpected "${next.text}" after key "${key}"${at()}`);
      }
    }
    const sep = peek();
    if (sep === undefined) break;
    if (sep.kind === 'op' && sep.text === ',') {
      pos++;
      if (peek() === undefined) throw selectorError(text, `trailing ","${at()}`);
      continue;
    }
    throw selectorError(text, `unexpected "${sep.text}"; separate requirements with ","${at()}`);
  }
  return reqs;
}

/** Builds a selector from Kubernetes `matchLabels` and `matchExpressions`. */
export function selectorFromMatch(match: { matchLabels?: Labels; matchExpressions?: Requirement[] }): Selector {
  const reqs: Requirement[] = [];
  for (const [key, value] of Object.entries(match.matchLabels ?? {})) reqs.push({ key, operator: 'In', values: [value] });
  for (const e of match.matchExpressions ?? []) reqs.push({ key: e.key, operator: e.operator, values: [...(e.values ?? [])] });
  return reqs;
}

/** How each operator tests a label set; a record, so the compiler checks every operator is handled. */
const MATCHERS: Record<SelectorOperator, (r: Requirement, labels: Labels) => boolean> = {
  Exists: (r, labels) => Object.hasOwn(labels, r.key),
  DoesNotExist: (r, labels) => !Object.hasOwn(labels, r.key),
  In: (r, labels) => Object.hasOwn(labels, r.key) && r.values.includes(labels[r.key] as string),
  NotIn: (r, labels) => !Object.hasOwn(labels, r.key) || !r.values.includes(labels[r.key] as string),
};

/** True when the labels satisfy every requirement. */
export function matchesSelector(selector: Selector, labels: Labels): boolean {
  return selector.every((r) => MATCHERS[r.operator](r, labels));
}

const FORMATTERS: Record<SelectorOperator, (r: Requirement) => string> = {
  Exists: (r) => r.key,
  DoesNotExist: (r) => `!${r.key}`,
  In: (r) => (r.values.length === 1 ? `${r.key}=${r.values[0]}` : `${r.key} in (${r.values.join(',')})`),
  NotIn: (r) => (r.values.length === 1 ? `${r.key}!=${r.values[0]}` : `${r.key} notin (${r.values.join(',')})`),
};

/** Writes a selector back in kubectl syntax (canonical: the same selector gives the same string). */
export function formatSelector(selector: Selector): string {
  return selector.map((r) => FORMATTERS[r.operator](r)).join(',');
}
