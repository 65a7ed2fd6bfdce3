/** A short list of values with their counts as horizontal bars (accelerator kinds, firmware versions). */
import { Section } from './section.js';

export function CountBars(props: { title: string; items: ReadonlyArray<{ value: string; count: number }>; total: number; limit?: number }) {
  const shown = props.items.slice(0, props.limit ?? 8);
  const rest = props.items.length - shown.length;
  return (
    <Section className="card" title={props.title}>
      {shown.length === 0 ? <p className="muted">No nodes.</p> : null}
      <ul className="bars">
        {shown.map((i) => (
          <li key={i.value}>
            <span className="bar-label">{i.value}</span>
            <span className="bar-track" aria-hidden="true">
              <span className="bar-fill" style={{ width: `${props.total === 0 ? 0 : (100 * i.count) / props.total}%` }} />
            </span>
            <span className="bar-count">{i.count.toLocaleString('en')}</span>
          </li>
        ))}
      </ul>
      {rest > 0 ? <p className="muted small">and {rest} more</p> : null}
    </Section>
  );
}
