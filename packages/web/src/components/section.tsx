/** A page section named by its heading (`aria-labelledby`), so screen readers list it by title. */
import { type ReactNode, useId } from 'react';

export function Section(props: { title: ReactNode; className?: string; children: ReactNode }) {
  const id = useId();
  return (
    <section className={props.className} aria-labelledby={id}>
      <h2 id={id}>{props.title}</h2>
      {props.children}
    </section>
  );
}
