/**
 * The signed-in operator: token and role, kept in session storage so a reload stays signed
 * in and closing the tab signs out. The role only decides which buttons appear; the server
 * checks it again on every request.
 */
import type { Role } from './types.js';

const KEY = 'edgefleet.session';

export interface Session {
  token: string;
  role: Role;
  tokenId: string;
  /** The sites the token is limited to (the server filters what it shows); null: the whole fleet. */
  sites: string[] | null;
}

export function loadSession(storage: Pick<Storage, 'getItem'> = sessionStorage): Session | undefined {
  try {
    const v = JSON.parse(storage.getItem(KEY) ?? 'null') as Partial<Session> | null;
    if (v === null || typeof v.token !== 'string' || typeof v.tokenId !== 'string') return undefined;
    if (v.role !== 'viewer' && v.role !== 'operator' && v.role !== 'admin') return undefined;
    const sites = Array.isArray(v.sites) && v.sites.every((s) => typeof s === 'string') ? v.sites : null;
    return { token: v.token, role: v.role, tokenId: v.tokenId, sites };
  } catch {
    return undefined;
  }
}

export function saveSession(s: Session, storage: Pick<Storage, 'setItem'> = sessionStorage): void {
  storage.setItem(KEY, JSON.stringify(s));
}

export function clearSession(storage: Pick<Storage, 'removeItem'> = sessionStorage): void {
  storage.removeItem(KEY);
}
