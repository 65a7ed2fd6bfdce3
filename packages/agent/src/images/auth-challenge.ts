/**
 * `WWW-Authenticate` as registries send it (RFC 7235 challenges; the distribution token
 * spec's `Bearer realm="…",service="…",scope="…"`), parsed as data so every shape is a
 * table row in the tests.
 */

/** One challenge: its scheme (lowercased) and parameters (names lowercased, values unquoted). */
export interface AuthChallenge {
  scheme: string;
  params: Record<string, string>;
}

/**
 * Parses a `WWW-Authenticate` header value into its challenges, in order. Tolerates what
 * registries send in practice: several challenges in one header, quoted values with
 * escaped quotes and commas, unquoted tokens, extra spaces. Unparseable trailing text is
 * ignored rather than thrown on: the header comes from the network.
 */
export function parseAuthChallenges(header: string): AuthChallenge[] {
  const out: AuthChallenge[] = [];
  let i = 0;
  const n = header.length;
  const skipSpace = () => {
    while (i < n && (header[i] === ' ' || header[i] === '\t' || header[i] === ',')) i += 1;
  };
  const token = () => {
    const start = i;
    while (i < n && /[!#$%&'*+.^_`|~0-9A-Za-z-]/.test(header[i] as string)) i += 1;
    return header.slice(start, i);
  };
  while (i < n) {
    skipSpace();
    const scheme = token();
    if (scheme === '') break;
    const challenge: AuthChallenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(challenge);
    // Parameters: name=value pairs separated by commas, until the next scheme token.
    for (;;) {
      const save = i;
      skipSpace();
      const name = token();
      while (i < n && header[i] === ' ') i += 1;
      if (name === '' || header[i] !== '=') {
        i = save;
        break;
      }
      i += 1;
      while (i < n && header[i] === ' ') i += 1;
      let value = '';
      if (header[i] === '"') {
        i += 1;
        while (i < n && header[i] !== '"') {
          if (header[i] === '\\' && i + 1 < n) i += 1;
          value += header[i];
          i += 1;
        }
        i += 1;
      } else {
        const start = i;
        while (i < n && header[i] !== ',' && header[i] !== ' ') i += 1;
        value = header.slice(start, i);
      }
      challenge.params[name.toLowerCase()] = value;
    }
  }
  return out;
}

/**
 * The token endpoint URL for a Bearer challenge (distribution token spec): the realm with
 * `service` and `scope` added as query parameters. Uses the challenge's own scope when it
 * sent one, else `repository:<name>:pull`. Throws a plain Error when the realm is missing
 * or not an http(s) URL.
 */
export function tokenUrl(challenge: AuthChallenge, repository: string): URL {
  const realm = challenge.params.realm;
  let url: URL;
  try {
    url = new URL(realm ?? '');
  } catch {
    throw new Error(`the registry's Bearer challenge has no usable realm (${JSON.stringify(realm ?? null)})`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`the registry's token realm ${url.origin} is not http(s)`);
  if (challenge.params.service !== undefined) url.searchParams.set('service', challenge.params.service);
  url.searchParams.set('scope', challenge.params.scope ?? `repository:${repository}:pull`);
  return url;
}
