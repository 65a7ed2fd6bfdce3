import type { Role } from '@edgefleet/protocol';

/** Each role can do everything the roles before it can. */
const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

/** True when a token of role `have` may do what needs role `need`. */
export function roleAllows(have: Role, need: Role): boolean {
  return RANK[have] >= RANK[need];
}
