import { EdgefleetError } from './errors.js';

/**
 * Bootstrap tokens carry the fleet CA's SHA-256 fingerprint, as k3s's long token form
 * (`K10<ca-hash>::user:pass`) does, so an agent that is given nothing but the token can
 * pin the right server before it sends the secret anywhere:
 *
 *     EF1<64 hex: sha256 of the CA certificate's DER>::<12 hex id>.<43 char base64url secret>
 *
 * The id names the token in listings and logs; only the secret's hash is stored.
 *
 * A token made with `edgefleet token create --release-key NAME.pub` also names the release
 * key the new node must pin (issue 14, finding 8), so the node trusts no key the server
 * offers at enrollment but that one (and keys it endorses):
 *
 *     EF2<64 hex: CA fingerprint><64 hex: sha256 of the raw Ed25519 release key>::<id>.<secret>
 */
interface BootstrapTokenParts {
  caFingerprint: string;
  id: string;
  secret: string;
  /** SHA-256 (hex) of the raw 32-byte release key the node must pin; absent: trust on first use. */
  releaseKeyFingerprint?: string | undefined;
}

const TOKEN = /^EF1([0-9a-f]{64})::([0-9a-f]{12})\.([A-Za-z0-9_-]{43})$/;
const TOKEN_WITH_KEY = /^EF2([0-9a-f]{64})([0-9a-f]{64})::([0-9a-f]{12})\.([A-Za-z0-9_-]{43})$/;

/** Assembles the token string handed to an operator. */
export function formatBootstrapToken(parts: BootstrapTokenParts): string {
  if (parts.releaseKeyFingerprint !== undefined) return `EF2${parts.caFingerprint}${parts.releaseKeyFingerprint}::${parts.id}.${parts.secret}`;
  return `EF1${parts.caFingerprint}::${parts.id}.${parts.secret}`;
}

/** Splits a bootstrap token; throws `token_invalid` (401) when it is not of our form. */
export function parseBootstrapToken(token: string): BootstrapTokenParts {
  const k = TOKEN_WITH_KEY.exec(token.trim());
  if (k !== null) return { caFingerprint: k[1] as string, releaseKeyFingerprint: k[2] as string, id: k[3] as string, secret: k[4] as string };
  const m = TOKEN.exec(token.trim());
  if (m === null) {
    throw new EdgefleetError({
      code: 'token_invalid',
      message: 'the bootstrap token is malformed',
      hint: 'copy the whole token printed by "edgefleet token create" (it starts with EF1 or EF2 and holds "::")',
      field: 'token',
    });
  }
  return { caFingerprint: m[1] as string, id: m[2] as string, secret: m[3] as string };
}

/**
 * API tokens for operators: `efa_<12 hex id>_<43 char base64url secret>`. The prefix lets
 * secret scanners recognise a leaked token.
 */
interface ApiTokenParts {
  id: string;
  secret: string;
}

const API_TOKEN = /^efa_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

/** Assembles an operator API token string. */
export function formatApiToken(parts: ApiTokenParts): string {
  return `efa_${parts.id}_${parts.secret}`;
}

/** Splits an API token, or returns undefined when the string is not one. */
export function parseApiToken(token: string): ApiTokenParts | undefined {
  const m = API_TOKEN.exec(token.trim());
  return m === null ? undefined : { id: m[1] as string, secret: m[2] as string };
}
