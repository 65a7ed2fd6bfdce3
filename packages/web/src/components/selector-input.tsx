/**
 * The label selector box: kubectl syntax, parsed by the same code as the server's, with the
 * parser's message shown under the box while the text does not parse.
 */

import { parseSelector, type Selector } from '@edgefleet/protocol';
import { useId, useMemo } from 'react';

/** The parsed selector, or the parser's message and hint. Empty text selects everything. */
export function useSelector(text: string): { selector: Selector; error: { message: string; hint: string } | undefined } {
  return useMemo(() => {
    try {
      return { selector: parseSelector(text), error: undefined };
    } catch (err) {
      const e = err as { message: string; hint?: string };
      return { selector: [], error: { message: e.message, hint: e.hint ?? '' } };
    }
  }, [text]);
}

export function SelectorInput(props: { value: string; onChange: (v: string) => void; error: { message: string; hint: string } | undefined }) {
  const id = useId();
  return (
    <div className="field grow">
      <label htmlFor={id}>Label selector</label>
      <input
        id={id}
        type="search"
        spellCheck={false}
        autoComplete="off"
        placeholder="ai.accelerator in (hailo8l,hailo8),geolocation.site=warehouse-east"
        value={props.value}
        onChange={(e) => props.onChange(e.target.value)}
        aria-invalid={props.error !== undefined}
        aria-describedby={props.error === undefined ? undefined : `${id}-error`}
      />
      {props.error === undefined ? null : (
        <output id={`${id}-error`} className="field-error">
          {props.error.message}
        </output>
      )}
    </div>
  );
}
