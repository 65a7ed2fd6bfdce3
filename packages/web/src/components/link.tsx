/** An ordinary link that moves between dashboard pages without a reload (modified clicks open tabs as usual). */
import type { MouseEvent, ReactNode } from 'react';
import { navigate, type Route, routePath } from '../router.js';

export function Link(props: { to: Route | string; children: ReactNode; className?: string; tabIndex?: number; 'aria-current'?: 'page' | undefined }) {
  const href = typeof props.to === 'string' ? props.to : routePath(props.to);
  const onClick = (e: MouseEvent<HTMLAnchorElement>) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(href);
  };
  return (
    <a href={href} onClick={onClick} className={props.className} tabIndex={props.tabIndex} aria-current={props['aria-current']}>
      {props.children}
    </a>
  );
}
