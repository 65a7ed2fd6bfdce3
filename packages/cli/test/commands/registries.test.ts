import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../../../../test-support/cli.js';
import { readPasswordFile } from '../../src/commands/registries.js';
import { buildProgram } from '../../src/main.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function file(content: string): string {
  const d = mkdtempSync(join(tmpdir(), 'edgefleet-cli-registry-'));
  dirs.push(d);
  writeFileSync(join(d, 'f'), content, { mode: 0o600 });
  return join(d, 'f');
}

describe('edgefleet registry', () => {
  it('refuses --password before reaching any server, pointing to --password-file', async () => {
    const r = await runCli('registry', 'add', 'harbor', '--server', 'https://harbor.example', '--username', 'u', '--password', 'hunter2');
    expect(r.code).toBe(2);
    expect(r.err).toContain('error: --password is refused');
    expect(r.err).toContain('hint: write it to a file readable only by you and pass --password-file FILE');
    expect(r.err).not.toContain('hunter2');
  });

  it('wants --username and --password-file together', async () => {
    const r = await runCli('registry', 'add', 'harbor', '--server', 'https://harbor.example', '--username', 'u');
    expect(r.err).toContain('--username and --password-file go together');
  });

  it("says in add's help that --server is the registry and the control plane comes from EDGEFLEET_SERVER or login; list keeps the global --server", () => {
    const registry = buildProgram().commands.find((c) => c.name() === 'registry');
    const add = registry?.commands.find((c) => c.name() === 'add');
    let help = '';
    add?.configureOutput({
      writeOut: (s) => {
        help += s;
      },
    });
    add?.outputHelp();
    expect(help).toMatch(/--server <url>\s+the REGISTRY's address/);
    expect(help).toContain('EDGEFLEET_SERVER');
    expect(help).toContain('edgefleet login');
    expect(help).not.toContain('--password <');
    const list = registry?.commands.find((c) => c.name() === 'list');
    expect(list?.options.find((o) => o.long === '--server')?.description).toMatch(/control plane/);
  });

  it('reads a password file less one trailing line break, keeping spaces, and refuses an empty one', () => {
    expect(readPasswordFile(file('s3cret\n'))).toBe('s3cret');
    expect(readPasswordFile(file(' with spaces \r\n'))).toBe(' with spaces ');
    expect(readPasswordFile(file('two\nlines\n'))).toBe('two\nlines');
    expect(() => readPasswordFile(file('\n'))).toThrow(/is empty/);
    expect(() => readPasswordFile('/nonexistent/pass')).toThrow(/cannot read --password-file \/nonexistent\/pass: ENOENT/);
  });
});
