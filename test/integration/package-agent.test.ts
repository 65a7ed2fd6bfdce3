import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { writeHardwareFixture } from '@edgefleet/agent/fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAgentLauncher } from '../../test-support/agent-launcher.js';
import { eventually, startTestFleet } from '../../test-support/fleet.js';

/**
 * Issue 17: `npm run package:agent` builds a .deb that installs, upgrades and removes
 * cleanly, and systemd accepts its units. Everything happens in throwaway roots:
 *
 * - dpkg runs as `dpkg --root=DIR --force-script-chrootless`: it installs into DIR, and runs
 *   the maintainer scripts on the host with DPKG_ROOT=DIR (Debian's convention for
 *   bootstrapping a root), so the scripts' own DPKG_ROOT handling is what is tested. The
 *   host's useradd (`--prefix`) and deb-systemd-helper (which honours DPKG_ROOT) write into DIR.
 * - Faked: DIR holds a minimal dpkg database whose status file claims nodejs, passwd and
 *   init-system-helpers are installed (the package's Depends; nothing of them is in DIR),
 *   and a minimal /etc/passwd, group and shadow for useradd to add to. No systemd runs in
 *   DIR, so the scripts only enable units (symlinks), never start them.
 * - `systemd-analyze verify --root` needs the units the agent's refer to (multi-user.target,
 *   sysinit.target…): the host's unit folder is copied into that root beside the package's.
 */

const ROOT = resolve(import.meta.dirname, '../..');
const haveTools = ['dpkg', 'dpkg-deb', 'useradd', 'deb-systemd-helper', 'systemd-analyze', 'shellcheck'].every(
  (tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0,
);

const V1 = '0.1.0';
const V2 = '0.1.1';
let work: string;
const debOf = (version: string): string => join(work, version, `edgefleet-agent_${version}_all.deb`);

function build(version: string): void {
  execFileSync(
    process.execPath,
    [join(ROOT, 'scripts/package-agent.mjs'), '--version', version, '--out', join(work, version), '--without-onnxruntime', '--compression', 'none'],
    {
      stdio: 'pipe',
    },
  );
}

/** A throwaway root dpkg can install into (see the header for what is faked). */
function fakeRoot(name: string): string {
  const root = join(work, name);
  for (const d of ['var/lib/dpkg/info', 'var/lib/dpkg/updates', 'var/lib/dpkg/triggers', 'etc']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'var/lib/dpkg/available'), '');
  let status = '';
  for (const [pkg, version] of [
    ['nodejs', '20.19.2+dfsg-1'],
    ['passwd', '1:4.13+dfsg1-1'],
    ['init-system-helpers', '1.65.2'],
  ]) {
    status += `Package: ${pkg}\nStatus: install ok installed\nPriority: optional\nVersion: ${version}\nArchitecture: all\nMaintainer: fake <fake@example.invalid>\nDescription: fake entry for a test root\n\n`;
    writeFileSync(join(root, `var/lib/dpkg/info/${pkg}.list`), '');
  }
  writeFileSync(join(root, 'var/lib/dpkg/status'), status);
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\n');
  writeFileSync(join(root, 'etc/shadow'), 'root:*:19000:0:99999:7:::\n', { mode: 0o640 });
  writeFileSync(join(root, 'etc/gshadow'), 'root:*::\n', { mode: 0o640 });
  return root;
}

function dpkg(root: string, ...args: string[]): string {
  const r = spawnSync('dpkg', [`--root=${root}`, '--force-script-chrootless', ...args], {
    encoding: 'utf8',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (r.status !== 0) throw new Error(`dpkg ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

const statusOf = (root: string): string | undefined => {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format placeholders
  const r = spawnSync('dpkg-query', [`--admindir=${join(root, 'var/lib/dpkg')}`, '-W', '-f', '${Status} ${Version}', 'edgefleet-agent'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout : undefined;
};
const modeOf = (path: string): string => (statSync(path).mode & 0o7777).toString(8);

describe.skipIf(!haveTools)('the agent as a Debian package', () => {
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'edgefleet-package-'));
    build(V1);
    build(V2);
  }, 120_000);

  afterAll(() => {
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  it('builds edgefleet-agent_<version>_all.deb with the bundle, the command, the units and the config, owned by root', () => {
    const listing = execFileSync('dpkg-deb', ['-c', debOf(V1)], { encoding: 'utf8' });
    for (const path of [
      './usr/lib/edgefleet/agent.js',
      './usr/lib/edgefleet/main.js',
      './usr/lib/edgefleet/hailo-identify',
      './usr/bin/edgefleet-agent',
      './lib/systemd/system/edgefleet-agent.service',
      './lib/systemd/system/edgefleet-hailo-identify.service',
      './lib/systemd/system/edgefleet-hailo-identify.timer',
      './etc/edgefleet/agent.yaml',
      './etc/edgefleet/private/',
    ]) {
      expect(listing).toContain(path);
    }
    for (const line of listing.trim().split('\n')) expect(line.split(/\s+/)[1]).toBe('root/root');
    expect(listing).toMatch(/^drwx------ root\/root .* \.\/etc\/edgefleet\/private\/$/m);
    expect(listing).toMatch(/^-rwxr-xr-x root\/root .* \.\/usr\/bin\/edgefleet-agent$/m);
    // The agent bundle needs no native module: onnxruntime is left out of this build.
    expect(listing).not.toContain('onnxruntime');
    const field = (name: string): string => execFileSync('dpkg-deb', ['-f', debOf(V1), name], { encoding: 'utf8' }).trim();
    expect(field('Package')).toBe('edgefleet-agent');
    expect(field('Version')).toBe(V1);
    expect(field('Architecture')).toBe('all');
    expect(field('Depends')).toContain('nodejs (>= 20)');
    expect(execFileSync('dpkg-deb', ['--ctrl-tarfile', debOf(V1)]).length).toBeGreaterThan(0);
    expect(execFileSync('sh', ['-c', `dpkg-deb -I "${debOf(V1)}" conffiles`], { encoding: 'utf8' }).trim()).toBe('/etc/edgefleet/agent.yaml');
  });

  it('writes ASCII-only bundles, so V8 holds their source at one byte a character (not two)', () => {
    // The sources have "—", "…" and "≤" in comments esbuild keeps: one such character made
    // V8 keep the whole 3.7 MB agent bundle as a two-byte string (7.4 MB of heap).
    const files = readdirSync(join(work, V1, 'bundle')).filter((f) => f.endsWith('.js'));
    expect(files).toContain('agent.js');
    expect(files).toContain('main.js');
    for (const file of files) {
      const text = readFileSync(join(work, V1, 'bundle', file), 'latin1');
      const at = text.search(/[\u0080-\uffff]/);
      expect(at === -1 ? 'ASCII only' : `byte ${at}: ${text.slice(Math.max(0, at - 60), at + 20)}`).toBe('ASCII only');
    }
    // What that guards: the comments still say what the sources say, as \u escapes.
    expect(files.map((f) => readFileSync(join(work, V1, 'bundle', f), 'latin1')).join('')).toContain('\\u2014');
  });

  it('leaves the device plugin (gRPC) and the model server out of what an idle agent loads', () => {
    // What an agent loads: agent.js and the files it imports statically, transitively, then
    // the agent itself, which `edgefleet agent` imports dynamically on every start. Other
    // dynamic imports (`import("./agent-k8s-….js")`) are read only when taken.
    const bundle = join(work, V1, 'bundle');
    const loaded = new Set<string>();
    const visit = (file: string): void => {
      if (loaded.has(file)) return;
      loaded.add(file);
      const text = readFileSync(join(bundle, file), 'utf8');
      for (const m of text.matchAll(/^(?:import|export)\s[^;]*?\sfrom\s+"\.\/([^"]+)";?$/gms)) visit(m[1] as string);
      for (const m of text.matchAll(/^import\s+"\.\/([^"]+)";?$/gm)) visit(m[1] as string);
    };
    visit('agent.js');
    const dynamic = [...readFileSync(join(bundle, 'agent.js'), 'utf8').matchAll(/import\("\.\/([^"]+)"\)/g)].map((m) => m[1] as string);
    const agentFile = dynamic.filter((f) => readFileSync(join(bundle, f), 'utf8').includes('// packages/agent/src/agent.ts'));
    expect(agentFile).toHaveLength(1);
    visit(agentFile[0] as string);
    const text = [...loaded].map((f) => readFileSync(join(bundle, f), 'utf8')).join('\n');
    // esbuild marks each source module with a `// path` comment.
    expect(text).toContain('// packages/agent/src/session/heartbeat.ts');
    expect(text).not.toContain('// node_modules/@grpc/grpc-js/');
    expect(text).not.toContain('// packages/agent/src/k8s/device-plugin/');
    expect(text).not.toContain('// packages/agent/src/model-server/server.ts');
    // The device plugin is still in the package, in a file of its own, imported on demand.
    const k8s = readdirSync(bundle).filter(
      (f) => f.endsWith('.js') && !loaded.has(f) && readFileSync(join(bundle, f), 'utf8').includes('// node_modules/@grpc/grpc-js/'),
    );
    expect(k8s).toHaveLength(1);
    expect(text).toContain(`import("./${k8s[0]}")`);
  });

  it('has maintainer scripts and helper scripts shellcheck accepts', () => {
    const scripts = ['debian/postinst', 'debian/prerm', 'debian/postrm', 'scripts/hailo-identify', 'scripts/edgefleet-agent'].map((s) =>
      join(ROOT, 'packaging/deb', s),
    );
    const r = spawnSync('shellcheck', ['--shell=sh', '--severity=style', ...scripts], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('has units that systemd-analyze verify accepts without a warning (and it would catch one)', () => {
    const root = join(work, 'verify-root');
    execFileSync('dpkg-deb', ['-x', debOf(V1), root]);
    cpSync('/lib/systemd/system/', join(root, 'lib/systemd/system/'), { recursive: true, force: false, errorOnExist: false, dereference: false });
    const units = ['edgefleet-agent.service', 'edgefleet-hailo-identify.service', 'edgefleet-hailo-identify.timer'].map((u) =>
      join(root, 'lib/systemd/system', u),
    );
    const verify = (files: string[]): string => {
      const r = spawnSync('systemd-analyze', ['verify', `--root=${root}`, '--man=no', ...files], {
        encoding: 'utf8',
        env: { ...process.env, SYSTEMD_LOG_LEVEL: 'notice' },
      });
      return `${r.stdout}${r.stderr}`.trim() + (r.status === 0 ? '' : `\n(exit ${r.status})`);
    };
    expect(verify(units)).toBe('');
    // The same check flags a directive this systemd does not know.
    const broken = join(root, 'lib/systemd/system/edgefleet-broken.service');
    writeFileSync(broken, readFileSync(units[0] as string, 'utf8').replace('RestartSec=15s', 'RestartSec=15s\nRestartStep=5'));
    expect(verify([broken])).toMatch(/RestartStep/);
  });

  it('installs, upgrades keeping an edited config, removes keeping the node, and purges everything', () => {
    const root = fakeRoot('dpkg-root');
    const at = (p: string): string => join(root, p);

    // Install.
    dpkg(root, '-i', debOf(V1));
    expect(statusOf(root)).toBe(`install ok installed ${V1}`);
    expect(modeOf(at('usr/bin/edgefleet-agent'))).toBe('755');
    expect(modeOf(at('usr/lib/edgefleet/hailo-identify'))).toBe('755');
    expect(modeOf(at('etc/edgefleet/private'))).toBe('700');
    expect(modeOf(at('var/lib/edgefleet'))).toBe('700');
    expect(modeOf(at('var/lib/edgefleet-workloads'))).toBe('755');
    const users = (): string[] =>
      readFileSync(at('etc/passwd'), 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('edgefleet-workload:'));
    expect(users()).toHaveLength(1);
    expect(users()[0]).toMatch(/^edgefleet-workload:x:\d+:\d+::\/nonexistent:(\/usr\/sbin\/nologin|\/bin\/false)$/);
    expect(readFileSync(at('etc/group'), 'utf8')).toMatch(/^edgefleet-workload:x:\d+:/m);
    // Enabled the way debhelper does it, in the root (no systemd runs there).
    expect(lstatSync(at('etc/systemd/system/multi-user.target.wants/edgefleet-agent.service')).isSymbolicLink()).toBe(true);
    expect(lstatSync(at('etc/systemd/system/timers.target.wants/edgefleet-hailo-identify.timer')).isSymbolicLink()).toBe(true);

    // The operator (or first boot) configures the node; it enrolls and keeps its identity.
    appendFileSync(at('etc/edgefleet/agent.yaml'), 'server: https://fleet.example:8443\n');
    writeFileSync(at('etc/edgefleet/private/bootstrap-token'), 'eft_token\n', { mode: 0o600 });
    writeFileSync(at('var/lib/edgefleet/node.key'), 'key\n', { mode: 0o600 });

    // Upgrade: the edited conffile, the token, the identity and the user stay.
    dpkg(root, '-i', debOf(V2));
    expect(statusOf(root)).toBe(`install ok installed ${V2}`);
    expect(readFileSync(at('etc/edgefleet/agent.yaml'), 'utf8')).toContain('server: https://fleet.example:8443');
    expect(existsSync(at('etc/edgefleet/agent.yaml.dpkg-new'))).toBe(false);
    expect(readFileSync(at('etc/edgefleet/private/bootstrap-token'), 'utf8')).toBe('eft_token\n');
    expect(readFileSync(at('var/lib/edgefleet/node.key'), 'utf8')).toBe('key\n');
    expect(modeOf(at('var/lib/edgefleet'))).toBe('700');
    expect(users()).toHaveLength(1);

    // Remove: the program goes; the config, the token and the node's identity stay.
    dpkg(root, '--remove', 'edgefleet-agent');
    expect(statusOf(root)).toBe(`deinstall ok config-files ${V2}`);
    expect(existsSync(at('usr/lib/edgefleet/agent.js'))).toBe(false);
    expect(existsSync(at('usr/bin/edgefleet-agent'))).toBe(false);
    expect(existsSync(at('lib/systemd/system/edgefleet-agent.service'))).toBe(false);
    expect(readFileSync(at('etc/edgefleet/agent.yaml'), 'utf8')).toContain('server:');
    expect(existsSync(at('etc/edgefleet/private/bootstrap-token'))).toBe(true);
    expect(existsSync(at('var/lib/edgefleet/node.key'))).toBe(true);

    // Purge: config, token, identity, workload folders and the enablement go.
    dpkg(root, '--purge', 'edgefleet-agent');
    expect(statusOf(root)).toBeUndefined();
    for (const gone of [
      'etc/edgefleet',
      'var/lib/edgefleet',
      'var/lib/edgefleet-workloads',
      'etc/systemd/system/multi-user.target.wants/edgefleet-agent.service',
      'etc/systemd/system/timers.target.wants/edgefleet-hailo-identify.timer',
    ]) {
      expect(existsSync(at(gone)), gone).toBe(false);
    }
    // The system user stays, as Debian keeps system users (files it owned may remain).
    expect(users()).toHaveLength(1);
  });

  it('exits 2 (which the unit does not restart) when the config names no server', () => {
    const dir = mkdtempSync(join(work, 'no-server-'));
    writeFileSync(join(dir, 'agent.yaml'), readFileSync(join(ROOT, 'packaging/deb/agent.yaml')));
    const r = spawnSync(process.execPath, [join(work, V1, 'bundle/agent.js'), '--config', join(dir, 'agent.yaml'), '--data', join(dir, 'data')], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.stderr).toContain('error: no server given');
    expect(r.stderr).toContain('set server: in the agent config');
    expect(r.status).toBe(2);
    expect(readFileSync(join(ROOT, 'packaging/deb/systemd/edgefleet-agent.service'), 'utf8')).toMatch(/^RestartPreventExitStatus=2$/m);
  });

  it('reads the launcher as the unit runs it: the Node flags before agent.js and the environment it exports', () => {
    // bench:agent --bundle and the run below start the bundle with what this returns, so what
    // they measure is what /usr/bin/edgefleet-agent runs.
    const launcher = join(work, 'launcher');
    writeFileSync(launcher, '#!/bin/sh\nexport MALLOC_ARENA_MAX=2\nexec /usr/bin/node --max-semi-space-size=1 --no-opt /usr/lib/edgefleet/agent.js "$@"\n');
    expect(readAgentLauncher(launcher)).toEqual({ nodeFlags: ['--max-semi-space-size=1', '--no-opt'], env: { MALLOC_ARENA_MAX: '2' } });
    writeFileSync(launcher, '#!/bin/sh\nexec node /opt/agent.js\n');
    expect(() => readAgentLauncher(launcher)).toThrow(/has no `exec \/usr\/bin\/node … \/usr\/lib\/edgefleet\/agent\.js "\$@"` line/);
    // The packaged launcher runs wasm (undici's parser) without TurboFan, whose compiler memory
    // otherwise stayed resident in half the starts (docs/BENCHMARKS.md, "Agent idle memory
    // against the 50 MB target").
    expect(readAgentLauncher(join(work, V1, `edgefleet-agent_${V1}_all/usr/bin/edgefleet-agent`))).toEqual({ nodeFlags: ['--liftoff-only'], env: {} });
  });

  it('runs from the bundle alone: reads its config file, enrolls without onnxruntime, and outlives a taken metrics port', async () => {
    const fleet = await startTestFleet({ heartbeatIntervalMs: 500 });
    const squatter = createServer();
    const port = await new Promise<number>((r) => squatter.listen(0, '127.0.0.1', () => r((squatter.address() as { port: number }).port)));
    const dir = join(work, 'bundle-run');
    await writeHardwareFixture(join(dir, 'hw'), 'pi5-hailo8');
    mkdirSync(join(dir, 'private'), { mode: 0o700 });
    writeFileSync(join(dir, 'private/bootstrap-token'), `${await fleet.createToken({ site: 'plant-3' })}\n`, { mode: 0o600 });
    writeFileSync(
      join(dir, 'agent.yaml'),
      [
        `server: ${fleet.server.url}`,
        `tokenFile: ${join(dir, 'private/bootstrap-token')}`,
        'labels: { line: packaging }',
        'workloads: { user: false }',
        '',
      ].join('\n'),
    );
    // As the unit runs it (`edgefleet-agent --config /etc/edgefleet/agent.yaml`, with the
    // launcher's Node flags), from the bundle folder of a build without onnxruntime-node.
    const { nodeFlags, env } = readAgentLauncher(join(work, V1, `edgefleet-agent_${V1}_all/usr/bin/edgefleet-agent`));
    const child = spawn(
      process.execPath,
      [
        ...nodeFlags,
        join(work, V1, 'bundle/agent.js'),
        '--config',
        join(dir, 'agent.yaml'),
        '--data',
        join(dir, 'data'),
        '--hw-root',
        join(dir, 'hw'),
        '--metrics-listen',
        `127.0.0.1:${port}`,
      ],
      { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } },
    );
    let output = '';
    const keep = (c: string): void => {
      output += c;
    };
    child.stdout.setEncoding('utf8').on('data', keep);
    child.stderr.setEncoding('utf8').on('data', keep);
    try {
      const node = await eventually(async () => (await fleet.admin.listNodes()).items[0], 30_000, 'the bundled agent enrolled').catch((err: Error) => {
        throw new Error(`${err.message}\n${output}`);
      });
      expect(node.labels).toMatchObject({ 'ai.accelerator': 'hailo8', 'geolocation.site': 'plant-3', line: 'packaging' });
      const facts = await eventually(
        async () => {
          const f = (await fleet.admin.getNode(node.id)).facts as { degraded?: Array<{ reason: string }> };
          return f.degraded !== undefined && f;
        },
        15_000,
        'the degraded condition',
      );
      expect(facts.degraded?.[0]?.reason).toBe('port-in-use');
      expect(child.exitCode).toBeNull();
      await new Promise<void>((r) => squatter.close(() => r()));
      await eventually(async () => (await fetch(`http://127.0.0.1:${port}/metrics`).catch(() => undefined))?.status === 200, 15_000, 'metrics served');
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      squatter.close();
      await fleet.close();
    }
  }, 90_000);
});
