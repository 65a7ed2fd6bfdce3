import { describe, expect, it } from 'vitest';
import { scrubSecrets } from '../src/log-scrub.js';

// Made-up secrets in the real formats (AWS's documented example key id).
const PEM = '-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\\n-----END PRIVATE KEY-----';

describe('scrubSecrets (best effort)', () => {
  it.each([
    ['Cookie header', 'GET / Cookie: session=abc123; csrf=xyz', 'GET / Cookie: [secret]'],
    ['Set-Cookie header', 'Set-Cookie: sid=s%3Aabc.def; Path=/; HttpOnly', 'Set-Cookie: [secret]'],
    ['cookie in JSON', '{"cookie":"sid=1234567"}', '{"cookie":"[secret]"}'],
    ['Authorization bearer', 'authorization: Bearer abc.def-123456', 'authorization: Bearer [bearer]'],
    ['Authorization basic', 'Authorization: Basic dXNlcjpwYXNz', 'Authorization: Basic [secret]'],
    ['Proxy-Authorization', 'Proxy-Authorization: Basic dXNlcjpwYXNz', 'Proxy-Authorization: Basic [secret]'],
    ['GitHub classic token', 'token ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8 used', 'token [github-token] used'],
    ['GitHub OAuth token', 'gho_16C7e42F292c6912E7710c838347Ae178B4a', '[github-token]'],
    ['GitHub fine-grained token', 'github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuv', '[github-token]'],
    ['Slack bot token', 'using xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOp', 'using [slack-token]'],
    ['Slack webhook', 'POST https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXX', 'POST [slack-webhook]'],
    ['AWS access key id', 'key AKIAIOSFODNN7EXAMPLE', 'key [aws-key]'],
    ['AWS secret by name', 'aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'aws_secret_access_key=[secret]'],
    ['Google API key', 'AIzaSyA-1234567890abcdefghijklmnopqrstu', '[gcp-key]'],
    ['edgefleet API token', 'efa_0123456789ab_SeCrEtSeCrEtSeCrEt', '[api-token:0123456789ab]'],
    ['edgefleet bootstrap token', `EF1${'ab'.repeat(32)}::0123456789ab.s3cr3ts3cr3t`, '[bootstrap-token:0123456789ab]'],
    ['PEM private key (JSON-escaped, one line)', `{"msg":"${PEM}"}`, '{"msg":"[private-key]"}'],
    ['URL password', 'postgres://fleet:hunter2@db:5432/fleet', 'postgres://fleet:[secret]@db:5432/fleet'],
    ['JWT', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl', '[jwt]'],
  ])('%s', (_what, input, expected) => {
    expect(scrubSecrets(input)).toBe(expected);
    // Scrubbing scrubbed text changes nothing.
    expect(scrubSecrets(expected)).toBe(expected);
  });

  it.each([
    'node edge-0001 enrolled at 10.0.0.7',
    'gh_pages branch, xoxo, ghp_short',
    'max_tokens=128 token_count: 3',
    '-----BEGIN CERTIFICATE-----',
    'cookies enabled: true',
  ])('leaves ordinary text alone: %s', (line) => {
    expect(scrubSecrets(line)).toBe(line);
  });

  it('finishes fast on a long line of near misses', () => {
    const line = 'ghp_ xoxb- Cookie AIza '.repeat(5000);
    const start = performance.now();
    scrubSecrets(line);
    expect(performance.now() - start).toBeLessThan(1000);
  });
});
