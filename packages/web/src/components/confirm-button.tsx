/**
 * A button for an action that changes the fleet, asking first in a modal dialog (the
 * native `<dialog>`: it traps focus, closes on Escape and returns focus to the button).
 * The server's refusal, if any, is shown in the dialog with its hint.
 */

import type { EdgefleetError } from '@edgefleet/protocol';
import { useId, useRef, useState } from 'react';
import { ProblemNote } from './problem.js';

export interface ConfirmButtonProps {
  label: string;
  /** The dialog's question, e.g. "Pause the rollout of detect?". */
  question: string;
  /** What will happen, in a sentence or two. */
  consequence: string;
  confirmLabel: string;
  danger?: boolean;
  disabled?: boolean;
  onConfirm: () => Promise<unknown>;
}

export function ConfirmButton(props: ConfirmButtonProps) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<EdgefleetError | undefined>(undefined);
  const open = () => {
    setError(undefined);
    dialog.current?.showModal();
  };
  const confirm = async () => {
    setBusy(true);
    try {
      await props.onConfirm();
      dialog.current?.close();
    } catch (err) {
      setError(err as EdgefleetError);
    } finally {
      setBusy(false);
    }
  };
  const titleId = useId();
  return (
    <>
      <button type="button" className={props.danger ? 'danger' : 'secondary'} onClick={open} disabled={props.disabled}>
        {props.label}
      </button>
      <dialog ref={dialog} aria-labelledby={titleId} className="confirm">
        <h2 id={titleId}>{props.question}</h2>
        <p>{props.consequence}</p>
        <ProblemNote error={error} title="The server refused" />
        <div className="actions">
          <button type="button" className="secondary" onClick={() => dialog.current?.close()}>
            Cancel
          </button>
          <button type="button" className={props.danger ? 'danger' : 'primary'} onClick={confirm} disabled={busy}>
            {busy ? 'Sending…' : props.confirmLabel}
          </button>
        </div>
      </dialog>
    </>
  );
}
