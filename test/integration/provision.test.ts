/**
 * Issue 17, "first boot from a device list", end to end: `edgefleet provision` against a real
 * server over TLS writes one folder per device of a CSV; Debian's cloud-init validates every
 * user-data and network-config, bash and shellcheck every firstrun.sh; real agents started
 * with the folders' tokens on fixture hardware carrying the listed serials and hostnames
 * enroll into their sites with their labels, and a token taken to another board is refused
 * without losing its use. `--image` writes the files into a FAT boot partition the test
 * builds (sfdisk + mkfs.fat), read back with mtools.
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent } from '@edgefleet/agent';
import { writeHardwareFixture } from '@edgefleet/agent/fixtures';
import { parseBootstrapToken } from '@edgefleet/protocol';
import { releaseKeyFingerprint } from '@edgefleet/protocol/node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { BatchManifest } from '../../packages/cli/src/commands/provision.js';
import { BootPartition } from '../../packages/cli/src/commands/provision-image.js';
import { runCli } from '../../test-support/cli.js';
import { eventually, startTestFleet, type TestFleet } from '../../test-support/fleet.js';
import { trustRootKey } from '../../test-support/release-keys.js';

/** Whether a command exists here (the CI installs cloud-init, shellcheck, mtools, dosfstools, fdisk). */
function has(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Runs a checker and returns its output, failing the test with it when the checker refuses. */
function check(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    throw new Error(`${cmd} ${args.join(' ')} refused:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

/** Whether this cloud-init validates network-config itself (23.x: --schema-type); 22.4 does not. */
function cloudInitHasNetworkSchema(): boolean {
  return check('cloud-init', ['schema', '--help']).includes('--schema-type');
}

/** Validates a network-config: with cloud-init's own schema when it has one, and always by rendering it (22.4 parses v2 into its network state and fails on malformed input). */
function validateNetworkConfig(file: string, out: string): void {
  if (cloudInitHasNetworkSchema()) check('cloud-init', ['schema', '--schema-type', 'network-config', '--config-file', file]);
  for (const kind of ['networkd']) {
    check('cloud-init', [
      'devel',
      'net-convert',
      '--network-data',
      file,
      '--kind',
      'yaml',
      '--distro',
      'debian',
      '--output-kind',
      kind,
      '--directory',
      join(out, kind),
    ]);
  }
}

/** The token cloud-init writes on a device, read from its user-data. */
function tokenOf(folder: string): string {
  const config = parse(readFileSync(join(folder, 'user-data'), 'utf8')) as { write_files: { path: string; content: string }[] };
  return (config.write_files.find((f) => f.path === '/etc/edgefleet/bootstrap-token')?.content ?? '').trim();
}

const SITES = ['store-12', 'store-13'];
/** Ten Pi 5 boards in two sites: serial, hostname, labels. */
const BOARDS = Array.from({ length: 10 }, (_, i) => ({
  serial: `e17${i.toString(16).padStart(13, '0')}`,
  hostname: `cam-${i + 1}`,
  site: SITES[i % 2] as string,
  labels: `line=${i + 1};camera=${i < 5 ? 'front' : 'back'}`,
}));

describe('edgefleet provision', () => {
  let fleet: TestFleet;
  let conn: string[];
  let keyFile: string;
  let sshKey: string;
  let pkg: string;
  let releasePub: string;
  let releaseFp: string;
  const agents: { agent: Agent; done: Promise<void> }[] = [];

  beforeAll(async () => {
    fleet = await startTestFleet({ heartbeatIntervalMs: 60_000 });
    conn = ['--server', fleet.server.url, '--token', fleet.adminToken, '--ca', join(fleet.dir, 'server/ca.crt')];
    sshKey = join(fleet.dir, 'id_ed25519.pub');
    writeFileSync(sshKey, 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTestsOnly0000000000000000000 op@laptop\n');
    // Stands in for the agent package: provision only copies it.
    pkg = join(fleet.dir, 'edgefleet-agent_0.1.0_all.deb');
    writeFileSync(pkg, '!<arch>\n');
    keyFile = sshKey;
    const pair = generateKeyPairSync('ed25519');
    await trustRootKey(fleet.admin, fleet.server.caFingerprint, pair);
    releasePub = join(fleet.dir, 'root.pub');
    const pem = pair.publicKey.export({ format: 'pem', type: 'spki' }).toString();
    writeFileSync(releasePub, pem);
    releaseFp = releaseKeyFingerprint(pem);
  });
  afterAll(async () => {
    for (const a of agents) a.agent.stop();
    await Promise.allSettled(agents.map((a) => a.done));
    await fleet?.close();
  });

  /** Starts an agent on fixture hardware with this serial and hostname, as a provisioned board boots. */
  async function boot(name: string, serial: string, hostname: string, token: string): Promise<{ agent: Agent; done: Promise<void> }> {
    const hwRoot = join(fleet.dir, `hw-${name}`);
    await writeHardwareFixture(hwRoot, 'pi5-hailo8l', { serial, hostname });
    const agent = new Agent({
      server: fleet.server.url,
      dataDir: join(fleet.dir, `data-${name}`),
      hwRoot,
      token,
      random: () => 0.5,
      log: pino({ level: 'silent' }),
    });
    const done = agent.run();
    done.catch(() => {});
    const handle = { agent, done };
    agents.push(handle);
    return handle;
  }

  it('from a CSV of 10 devices in 2 sites: valid cloud-init folders whose tokens enroll their own boards, and no other', async () => {
    const csv = join(fleet.dir, 'devices.csv');
    writeFileSync(csv, `serial,hostname,site,labels\n${BOARDS.map((b) => `${b.serial},${b.hostname},${b.site},${b.labels}`).join('\n')}\n`);
    const out = join(fleet.dir, 'cards');
    const run = await runCli(
      'provision',
      '--devices',
      csv,
      '--out',
      out,
      '--ssh-key',
      keyFile,
      '--package',
      pkg,
      '--release-key',
      releasePub,
      '--ttl',
      '14d',
      '-o',
      'json',
      ...conn,
    );
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    const manifest = JSON.parse(readFileSync(join(out, 'batch.json'), 'utf8')) as BatchManifest;
    expect(manifest.devices.map((d) => d.folder)).toEqual(BOARDS.map((b) => b.hostname));
    // The manifest names tokens by id, never their secrets.
    const tokens = BOARDS.map((b) => tokenOf(join(out, b.hostname)));
    for (const t of tokens) expect(readFileSync(join(out, 'batch.json'), 'utf8')).not.toContain(parseBootstrapToken(t).secret);
    expect(new Set(tokens).size).toBe(10);
    for (const [i, b] of BOARDS.entries()) {
      const folder = join(out, b.hostname);
      expect(readdirSync(folder).sort()).toEqual(['edgefleet-agent_0.1.0_all.deb', 'meta-data', 'network-config', 'user-data']);
      expect(statSync(join(folder, 'user-data')).mode & 0o777).toBe(0o600);
      // Every token names the root release key its node pins, and its own id in the manifest.
      expect(parseBootstrapToken(tokens[i] as string)).toMatchObject({ releaseKeyFingerprint: releaseFp, id: manifest.devices[i]?.tokenId });
      check('cloud-init', ['schema', '--config-file', join(folder, 'user-data')]);
      validateNetworkConfig(join(folder, 'network-config'), join(fleet.dir, 'net', b.hostname));
    }

    // Board 1's token on another board (another serial): refused, audited, its use kept.
    const thief = await boot('thief', 'badbadbadbad0001', BOARDS[0]?.hostname as string, tokens[0] as string);
    await expect(thief.done).rejects.toMatchObject({ code: 'forbidden', status: 403 });
    const refused = await fleet.admin.request('audit', { query: { limit: 50 } });
    expect(refused.items.find((e) => e.action === 'node.enroll-refused')).toMatchObject({
      target: manifest.devices[0]?.tokenId,
      details: { reason: 'bound-serial', expected: BOARDS[0]?.serial, reported: 'badbadbadbad0001' },
    });

    // The ten boards, each with its own folder's token. (Ten enrollments at once on a loaded
    // two-core CI machine can take tens of seconds: the wait is generous, not a speed check.)
    const started = await Promise.all(BOARDS.map((b, i) => boot(b.hostname, b.serial, b.hostname, tokens[i] as string)));
    const ids = await Promise.all(started.map((s) => eventually(() => s.agent.state.nodeId, 90_000, 'enrollment')));
    for (const [i, b] of BOARDS.entries()) {
      const node = await fleet.admin.getNode(ids[i] as string);
      expect(node.name).toBe(b.hostname);
      expect(node.labels).toMatchObject({ 'geolocation.site': b.site, line: String(i + 1), camera: i < 5 ? 'front' : 'back' });
    }

    const status = await runCli('provision', 'status', '--batch', manifest.batchId, '-o', 'json', ...conn);
    expect(status.code).toBe(0);
    // Listed by name, numbers in order.
    const shown = JSON.parse(status.out) as { counts: Record<string, number>; devices: { hostname: string; state: string; node: { name: string } }[] };
    expect(shown.counts).toEqual({ enrolled: 10, pending: 0, expired: 0 });
    expect(shown.devices.map((d) => [d.hostname, d.state, d.node.name])).toEqual(BOARDS.map((b) => [b.hostname, 'enrolled', b.hostname]));
    const table = await runCli('provision', 'status', '--batch', manifest.batchId, ...conn);
    expect(table.out).toMatch(/SERIAL\s+HOSTNAME\s+SITE\s+STATE\s+NODE/);
    expect(table.err).toContain('10 enrolled, 0 pending, 0 expired');
  }, 240_000);

  it('refuses an invalid device list without minting a token or writing a file', async () => {
    const before = (await fleet.admin.listBootstrapTokens()).length;
    const csv = join(fleet.dir, 'bad.csv');
    writeFileSync(csv, 'serial,site\naaa,store-1\naaa,store-2\n');
    const out = join(fleet.dir, 'bad-out');
    const run = await runCli('provision', '--devices', csv, '--out', out, '--ssh-key', keyFile, '--package', pkg, ...conn);
    expect(run.code).toBe(2);
    expect(run.err).toMatch(/line 3: serial aaa is already listed on line 2/);
    expect(existsSync(out)).toBe(false);
    expect((await fleet.admin.listBootstrapTokens()).length).toBe(before);
  });

  it('mints 50 distinct tokens for 50 devices, pending until their boards come', async () => {
    const csv = join(fleet.dir, 'fifty.csv');
    writeFileSync(csv, `serial,site\n${Array.from({ length: 50 }, (_, i) => `${(0x5000 + i).toString(16).padStart(16, '0')},store-${i % 3}`).join('\n')}\n`);
    const out = join(fleet.dir, 'fifty');
    const run = await runCli('provision', '--devices', csv, '--out', out, '--ssh-key', keyFile, '--package', pkg, ...conn);
    expect(run.code).toBe(0);
    const manifest = JSON.parse(readFileSync(join(out, 'batch.json'), 'utf8')) as BatchManifest;
    const tokens = manifest.devices.map((d) => tokenOf(join(out, d.folder)));
    expect(new Set(tokens).size).toBe(50);
    expect(new Set(manifest.devices.map((d) => d.tokenId)).size).toBe(50);
    const status = await fleet.admin.provisionBatchStatus(manifest.batchId);
    expect(status.counts).toEqual({ enrolled: 0, pending: 50, expired: 0 });
  }, 60_000);

  it('keeps a site-scoped operator to its sites, a bound token to one use, and shows a token that expired unused', async () => {
    const errorOf = (p: Promise<unknown>) =>
      p.then(
        () => undefined,
        (err: { status?: number; message?: string }) => err,
      );
    const scoped = fleet.client((await fleet.admin.createApiToken({ role: 'operator', sites: ['store-12'] })).token);
    expect(await errorOf(scoped.createProvisionBatch({ devices: [{ serial: 'abc1', site: 'store-13' }] }))).toMatchObject({ status: 403 });
    // Duplicates and over-long lives are refused by the server too, not only by the CLI.
    expect(
      await errorOf(
        fleet.admin.createProvisionBatch({
          devices: [
            { serial: 'abc1', site: 's' },
            { serial: 'ABC1', site: 's' },
          ],
        }),
      ),
    ).toMatchObject({ status: 400 });
    expect(await errorOf(fleet.admin.createProvisionBatch({ ttlSeconds: 31 * 86_400, devices: [{ serial: 'abc1', site: 's' }] }))).toMatchObject({
      status: 400,
    });
    expect(await errorOf(fleet.admin.createBootstrapToken({ serial: 'abc1', uses: 2 }))).toMatchObject({ status: 400 });

    const mixed = await fleet.admin.createProvisionBatch({
      ttlSeconds: 1,
      devices: [
        { hostname: 'exp-1', site: 'store-12' },
        { hostname: 'exp-2', site: 'store-13' },
      ],
    });
    // The scoped operator sees its site's device only; an unknown batch is 404.
    expect((await scoped.provisionBatchStatus(mixed.id)).devices.map((d) => d.hostname)).toEqual(['exp-1']);
    expect(await errorOf(scoped.provisionBatchStatus('batch-unknown'))).toMatchObject({ status: 404 });
    const expired = await eventually(
      async () => {
        const s = await fleet.admin.provisionBatchStatus(mixed.id);
        return s.counts.expired === 2 && s;
      },
      5_000,
      'the tokens to expire',
    );
    expect(expired.devices.map((d) => d.state)).toEqual(['expired', 'expired']);
    expect((await fleet.admin.listBootstrapTokens()).find((t) => t.id === mixed.devices[0]?.tokenId)).toMatchObject({ hostname: 'exp-1', batchId: mixed.id });
  });

  it.runIf(has('shellcheck'))('writes Bookworm firstrun.sh files that pass bash -n and shellcheck, with static network and Wi-Fi', async () => {
    const csv = join(fleet.dir, 'bookworm.csv');
    writeFileSync(
      csv,
      'serial,hostname,site,address,gateway,dns\nb00c0000000000a1,gate-1,store-12,192.168.7.10/24,192.168.7.1,1.1.1.1 9.9.9.9\nb00c0000000000a2,,store-13,,,\n',
    );
    const wifi = join(fleet.dir, 'wifi.txt');
    writeFileSync(wifi, `it's "complicated" $HOME\n`);
    const out = join(fleet.dir, 'bookworm');
    const run = await runCli(
      'provision',
      '--devices',
      csv,
      '--out',
      out,
      '--os',
      'bookworm',
      '--ssh-key',
      keyFile,
      '--package',
      pkg,
      '--wifi-ssid',
      'Shop wifi',
      '--wifi-password-file',
      wifi,
      ...conn,
    );
    expect(run.code).toBe(0);
    for (const folder of ['gate-1', 'b00c0000000000a2']) {
      const script = join(out, folder, 'firstrun.sh');
      expect(statSync(script).mode & 0o777).toBe(0o600);
      check('bash', ['-n', script]);
      check('shellcheck', ['--shell=bash', '--severity=style', script]);
      expect(readFileSync(script, 'utf8')).toContain(`psk=it's "complicated" $HOME`);
    }
  });

  it.runIf(has('mcopy') && has('sfdisk') && has('mkfs.fat'))(
    'writes the files into copies of an image’s FAT boot partition, one per device or one shared',
    async () => {
      // A 16 MiB image shaped like Raspberry Pi OS: an MBR, a FAT boot partition at 1 MiB, a Linux root.
      const base = join(fleet.dir, 'base.img');
      writeFileSync(base, '');
      truncateSync(base, 16 * 1024 * 1024);
      execFileSync('sfdisk', ['-q', base], { input: 'label: dos\nstart=2048, size=20480, type=c\nstart=22528, type=83\n' });
      execFileSync('mkfs.fat', ['-F', '16', '--offset', '2048', base, '10240'], { stdio: 'ignore' });
      const cmdline = join(fleet.dir, 'cmdline.txt');
      writeFileSync(cmdline, 'console=serial0,115200 root=PARTUUID=abc-02 rootwait\n');
      new BootPartition(base).put(cmdline, 'cmdline.txt');

      const csv = join(fleet.dir, 'img.csv');
      writeFileSync(csv, 'hostname,site\nimg-1,store-12\nimg-2,store-13\n');
      const out = join(fleet.dir, 'img-cards');
      const images = join(fleet.dir, 'images');
      const run = await runCli(
        'provision',
        '--devices',
        csv,
        '--out',
        out,
        '--ssh-key',
        keyFile,
        '--package',
        pkg,
        '--image',
        base,
        '--write',
        images,
        ...conn,
      );
      expect(run.err).not.toMatch(/error/);
      expect(run.code).toBe(0);
      for (const name of ['img-1', 'img-2']) {
        const boot = new BootPartition(join(images, `${name}.img`));
        expect(boot.list().sort()).toEqual(['cmdline.txt', 'edgefleet-agent_0.1.0_all.deb', 'meta-data', 'network-config', 'user-data']);
        expect(boot.read('user-data')).toBe(readFileSync(join(out, name, 'user-data'), 'utf8'));
        expect(boot.read('meta-data')).toContain(`local-hostname: ${name}`);
      }
      // The base image is left as it was.
      expect(new BootPartition(base).list()).toEqual(['cmdline.txt']);

      // Bookworm, shared: one image with the package and the firstrun entry; device files stay in folders.
      const sharedOut = join(fleet.dir, 'shared-cards');
      const sharedImages = join(fleet.dir, 'shared-images');
      mkdirSync(sharedImages);
      const shared = await runCli(
        'provision',
        '--devices',
        csv,
        '--out',
        sharedOut,
        '--os',
        'bookworm',
        '--ssh-key',
        keyFile,
        '--package',
        pkg,
        '--image',
        base,
        '--write',
        sharedImages,
        '--shared',
        '-o',
        'json',
        ...conn,
      );
      expect(shared.code).toBe(0);
      const written = readdirSync(sharedImages);
      expect(written).toHaveLength(1);
      const boot = new BootPartition(join(sharedImages, written[0] as string));
      expect(boot.list().sort()).toEqual(['cmdline.txt', 'edgefleet-agent_0.1.0_all.deb']);
      expect(boot.read('cmdline.txt')).toBe(
        'console=serial0,115200 root=PARTUUID=abc-02 rootwait systemd.run=/boot/firmware/firstrun.sh systemd.run_success_action=reboot systemd.unit=kernel-command-line.target\n',
      );
      expect(existsSync(join(sharedOut, 'img-1', 'firstrun.sh'))).toBe(true);
    },
    60_000,
  );
});
