/**
 * Best-effort scrubbing of secrets from log text: what the agent does to every line before
 * it leaves the node, and what the server does again to node lines it stores or forwards
 * and to its own log. It is a safety net, not a boundary: it recognises common shapes of
 * secrets and will miss others (a password printed bare, a token of a format it does not
 * know). Keep secrets out of logs in the first place.
 *
 * Each rule replaces what it finds with a marker (`[private-key]`, `[bearer]`, `[secret]`,
 * …), so a reader still sees that something was there and what kind of thing it was. In the
 * order they run (earlier rules take text later ones would misread):
 * - `[private-key]` PEM private-key blocks (any `… PRIVATE KEY` label: PKCS#1/#8, EC,
 *   OpenSSH, encrypted), BEGIN … END, also squeezed into one JSON-escaped line with `\n`; a
 *   BEGIN without END hides the base64 that follows it.
 * - `[bootstrap-token:<id>]`, `[api-token:<id>]` edgefleet's own tokens (`EF1<ca>::<id>.<secret>`,
 *   `efa_<id>_<secret>`); the id is kept because it names the token in `edgefleet token list`.
 * - `[jwt]` three base64url parts starting with `eyJ`.
 * - `[secret]` the credentials of an `Authorization:` (or `Proxy-Authorization:`) header that
 *   is not a bearer token; `[bearer]` the token after `Bearer`.
 * - `[secret]` the value of a `Cookie:` / `Set-Cookie:` header (`cookie=` too), up to the end
 *   of the line or the closing quote.
 * - `[github-token]` GitHub tokens (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`),
 *   `[slack-token]` Slack tokens (`xoxa-`, `xoxb-`, `xoxp-`, `xoxo-`, `xoxr-`, `xoxs-`, `xapp-`)
 *   and `[slack-webhook]` webhook URLs, `[gcp-key]` Google API keys (`AIza…`).
 * - `[aws-key]` AWS access key ids (`AKIA`/`ASIA` + 16).
 * - `[secret]` the password of a URL (`scheme://user:[secret]@host`), and the value of keys
 *   that name a secret (`password`, `passwd`, `passphrase`, `secret`, `token`, `api_key`,
 *   `access_key`, `secret_key`, `private_key`, with any prefix such as `db_password`,
 *   `client_secret` or `aws_secret_access_key`) in `k=v`, `k: v`, JSON `"k":"v"`, escaped JSON
 *   and Python `'k': 'v'` forms — the key is kept.
 *   The key must end in the secret word: `max_tokens=128` and `token_count: 3` are left alone.
 *
 * Linear time: every pattern either has bounded repetition or can only start at the
 * beginning of a token (a lookbehind), and the PEM rule is a scan, so a 100 kB line of near
 * misses costs a few milliseconds. Pure (no Node APIs): the browser bundle may use it.
 */

interface SecretRule {
  name: string;
  /** Cheap test that says the rule cannot match, so most lines skip most regexes. */
  mayMatch: (line: string) => boolean;
  apply: (line: string) => string;
}

/** Markers the rules write; a value that already is one is not scrubbed again (`token=[jwt]` stays). */
const MARKER = /^\[[a-z0-9-]+(?::[0-9a-f]{1,32})?\]$/;

// --- private keys ---------------------------------------------------------------------------

const PEM_BEGIN = /-----BEGIN (?:[A-Z0-9]{1,20} ){0,4}PRIVATE KEY(?: BLOCK)?-----/g;
const PEM_END = /-----END (?:[A-Z0-9]{1,20} ){0,4}PRIVATE KEY(?: BLOCK)?-----/g;
/** What follows a BEGIN with no END in the same line: base64, whitespace, escaped newlines, `Proc-Type:`-style headers. */
const PEM_BODY = /(?:[A-Za-z0-9+/=\s,:-]|\\[rn])*/y;

function scrubPrivateKeys(line: string): string {
  let out = '';
  let pos = 0;
  let noEndAfter = Number.POSITIVE_INFINITY;
  PEM_BEGIN.lastIndex = 0;
  for (let m = PEM_BEGIN.exec(line); m !== null; m = PEM_BEGIN.exec(line)) {
    out += `${line.slice(pos, m.index)}[private-key]`;
    const afterBegin = m.index + m[0].length;
    let end: RegExpExecArray | null = null;
    if (afterBegin < noEndAfter) {
      PEM_END.lastIndex = afterBegin;
      end = PEM_END.exec(line);
      // Remember the miss, so many BEGINs without an END cost one scan, not one each.
      if (end === null) noEndAfter = afterBegin;
    }
    if (end !== null) {
      pos = end.index + end[0].length;
    } else {
      PEM_BODY.lastIndex = afterBegin;
      PEM_BODY.exec(line);
      pos = PEM_BODY.lastIndex;
    }
    PEM_BEGIN.lastIndex = pos;
  }
  return out + line.slice(pos);
}

// --- tokens and secrets ---------------------------------------------------------------------

const BOOTSTRAP_TOKEN = /EF1[0-9a-f]{16,128}::(?:([0-9a-f]{12})\.)?[^\s"'\\,;]{0,128}/g;
const API_TOKEN = /(?<![A-Za-z0-9_])efa_([0-9a-f]{12})_[A-Za-z0-9_-]{8,128}/g;
const JWT = /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,4096}\.[A-Za-z0-9_-]{2,8192}\.[A-Za-z0-9_-]{0,4096}/g;
const AUTHORIZATION =
  /(?<![A-Za-z0-9_])((?:proxy-)?authorization["']?[ \t]{0,8}[:=][ \t]{0,8}["']?)(?:(basic|token|digest|apikey|negotiate)([ \t]{1,8}))?(?!(?:bearer|basic|token|digest|apikey|negotiate)[ \t]|\[)([^\s"',;]{1,4096})/gi;
const BEARER = /(?<![A-Za-z0-9_])(bearer)([ \t]{1,8}|%20|\+)([A-Za-z0-9._~+/-]{8,4096}=*)/gi;
const COOKIE = /(?<![A-Za-z0-9_-])((?:set-)?cookie["']?[ \t]{0,8}[:=][ \t]{0,8}["']?)(?!\[)([^"'\n]{1,4096})/gi;
const GITHUB_TOKEN = /(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{22,255})(?![A-Za-z0-9_])/g;
const SLACK_TOKEN = /(?<![A-Za-z0-9_-])(?:xox[aboprs]|xapp)-[A-Za-z0-9-]{10,255}/g;
const SLACK_WEBHOOK = /https:\/\/hooks\.slack\.com\/(?:services|workflows)\/[A-Za-z0-9_/-]{10,512}/g;
const GCP_KEY = /(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}(?![A-Za-z0-9_-])/g;
const AWS_KEY_ID = /(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])/g;
const URL_PASSWORD = /([A-Za-z][A-Za-z0-9+.-]{0,20}:\/\/)([^\s:@/]{1,256}):([^\s@/]{1,256})@/g;

/** A key that names a secret: it must END in one of these words, with any prefix. */
const SECRET_KEY = '[A-Za-z0-9_.-]{0,64}?(?:password|passwd|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key|secret[_-]?key|private[_-]?key)';
const JSON_SECRET = new RegExp(String.raw`("${SECRET_KEY}"\s{0,8}:\s{0,8}")((?:[^"\\]|\\.)*)"`, 'gi');
/** Python's repr of a dict: `{'password': 'hunter2'}`. */
const PY_SECRET = new RegExp(String.raw`('${SECRET_KEY}'\s{0,8}:\s{0,8}')([^'\\\n]{0,1024})'`, 'gi');
/** The same inside a JSON string that holds JSON (`"body":"{\"password\":\"…\"}"`). */
const ESCAPED_JSON_SECRET = new RegExp(String.raw`(\\"${SECRET_KEY}\\"\s{0,8}:\s{0,8}\\")((?:[^"\\]|\\(?!"))*)\\"`, 'gi');
const KV_SECRET = new RegExp(String.raw`(?<![A-Za-z0-9_.[-])(${SECRET_KEY})(\s{0,8}[=:]\s{0,8})("[^"\n]{0,1024}"|'[^'\n]{0,1024}'|[^\s"'&,;]{1,4096})`, 'gi');

/** Tokens after `bearer` in prose ("bearer tokens") are words; a real token has a digit, a symbol or mixed case. */
function looksLikeToken(token: string): boolean {
  return /[0-9._~+/=-]/.test(token) || (/[a-z]/.test(token) && /[A-Z]/.test(token));
}

const SECRET_RULES: readonly SecretRule[] = [
  { name: 'private-key', mayMatch: (l) => l.includes('PRIVATE KEY'), apply: scrubPrivateKeys },
  {
    name: 'edgefleet-token',
    mayMatch: (l) => l.includes('EF1') || l.includes('efa_'),
    apply: (l) =>
      l
        .replace(BOOTSTRAP_TOKEN, (_m, id: string | undefined) => (id === undefined ? '[bootstrap-token]' : `[bootstrap-token:${id}]`))
        .replace(API_TOKEN, (_m, id: string) => `[api-token:${id}]`),
  },
  { name: 'jwt', mayMatch: (l) => l.includes('eyJ'), apply: (l) => l.replace(JWT, '[jwt]') },
  {
    name: 'authorization',
    mayMatch: (l) => /authorization|bearer/i.test(l),
    apply: (l) =>
      l
        .replace(AUTHORIZATION, (_m, prefix: string, scheme: string | undefined, space: string | undefined, value: string) =>
          MARKER.test(value) ? _m : `${prefix}${scheme === undefined ? '' : `${scheme}${space}`}[secret]`,
        )
        .replace(BEARER, (m, word: string, space: string, token: string) => (looksLikeToken(token) ? `${word}${space}[bearer]` : m)),
  },
  {
    name: 'cookie',
    mayMatch: (l) => /cookie/i.test(l),
    apply: (l) => l.replace(COOKIE, (m, prefix: string, value: string) => (MARKER.test(value.trim()) ? m : `${prefix}[secret]`)),
  },
  {
    name: 'service-token',
    mayMatch: (l) => /gh[pousr]_|github_pat_|xox|xapp-|hooks\.slack|AIza/.test(l),
    apply: (l) =>
      l.replace(SLACK_WEBHOOK, '[slack-webhook]').replace(GITHUB_TOKEN, '[github-token]').replace(SLACK_TOKEN, '[slack-token]').replace(GCP_KEY, '[gcp-key]'),
  },
  { name: 'aws-key', mayMatch: (l) => l.includes('AKIA') || l.includes('ASIA'), apply: (l) => l.replace(AWS_KEY_ID, '[aws-key]') },
  { name: 'url-password', mayMatch: (l) => l.includes('://'), apply: (l) => l.replace(URL_PASSWORD, '$1$2:[secret]@') },
  {
    name: 'secret-value',
    mayMatch: (l) => /pass|secret|token|key/i.test(l),
    apply: (l) =>
      l
        .replace(JSON_SECRET, (m, prefix: string, value: string) => (MARKER.test(value) || value === '' ? m : `${prefix}[secret]"`))
        .replace(PY_SECRET, (m, prefix: string, value: string) => (MARKER.test(value) || value === '' ? m : `${prefix}[secret]'`))
        .replace(ESCAPED_JSON_SECRET, (m, prefix: string, value: string) => (MARKER.test(value) || value === '' ? m : `${prefix}[secret]\\"`))
        .replace(KV_SECRET, (m, key: string, sep: string, value: string) => {
          const bare = value.replace(/^["']|["']$/g, '');
          if (MARKER.test(bare) || bare === '') return m;
          const quote = value.startsWith('"') || value.startsWith("'") ? (value[0] as string) : '';
          return `${key}${sep}${quote}[secret]${quote}`;
        }),
  },
];

/** Replaces the secrets this module recognises in `text` with markers (best effort: see above). */
export function scrubSecrets(text: string): string {
  let out = text;
  for (const rule of SECRET_RULES) if (rule.mayMatch(out)) out = rule.apply(out);
  return out;
}
