/** An error as the server phrased it: what is wrong, and the hint that says what to do. */
export function ProblemNote(props: { error: { message: string; hint?: string } | undefined; title?: string }) {
  if (props.error === undefined) return null;
  return (
    <div className="problem" role="alert">
      <strong>{props.title ?? 'Something went wrong'}:</strong> {props.error.message}
      {props.error.hint ? <div className="hint">{props.error.hint}</div> : null}
    </div>
  );
}
