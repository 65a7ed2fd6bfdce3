import type { Whoami } from '@edgefleet/protocol';
import type { TokenCaller } from '../http/auth.js';

/** `GET /v1/whoami`: the calling token's role, id and sites (the dashboard shows the actions the role allows). */
export function whoami(caller: TokenCaller): Whoami {
  return { role: caller.role, tokenId: caller.tokenId, sites: caller.sites === null ? null : [...caller.sites] };
}
