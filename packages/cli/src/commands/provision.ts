import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { errors, type ProvisionBatchCreated, type ProvisionBatchStatus, parseBootstrapToken, parseDuration } from '@edgefleet/protocol';
import { writeFileDurable } from '@edgefleet/protocol/node';
import type { Command } from 'commander';
import { type ConnectionFlags, clientFrom, readFlagFile, withConnection } from '../connection.js';
import { outputFormat, printData, renderTable } from '../output.js';
import { type DeviceRow, parseDeviceList } from './provision-csv.js';
import { type AgentSource, type DeviceFile, deviceFiles, deviceFolder, deviceHostname, type ProvisionSettings } from './provision-files.js';
import { BootPartition, copyImage, withFirstrun } from './provision-image.js';
import { releaseKeyFileFingerprint } from './tokens.js';
import { collect } from './util.js';

interface ProvisionFlags extends ConnectionFlags {
  devices: string;
  out: string;
  os: string;
  ttl: string;
  agentServer?: string;
  user: string;
  sshKey: string[];
  wifiSsid?: string;
  wifiPasswordFile?: string;
  package?: string;
  aptRepo?: string;
  aptKey?: string;
  releaseKey?: string;
  image?: string;
  write?: string;
  shared?: boolean;
  output: string;
}

/** The batch manifest, DIR/batch.json: what was provisioned, never a token's secret. */
export interface BatchManifest {
  batchId: string;
  createdAt: string;
  expiresAt: string;
  os: 'trixie' | 'bookworm';
  server: string;
  devices: { folder: string; serial: string | null; hostname: string; site: string; labels: Record<string, string>; tokenId: string; line: number }[];
}

/** Reads the SSH public keys the flags name; at least one: nodes take no password. */
function sshKeys(files: string[]): string[] {
  if (files.length === 0) throw errors.config('no --ssh-key given: provisioned nodes take SSH keys only', 'add --ssh-key ~/.ssh/id_ed25519.pub (repeatable)');
  const keys: string[] = [];
  for (const f of files) {
    for (const line of readFlagFile(f, '--ssh-key').split('\n')) {
      const key = line.trim();
      if (key === '' || key.startsWith('#')) continue;
      if (!/^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp\d+|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) [A-Za-z0-9+/=]+( .*)?$/.test(key)) {
        throw errors.config(
          `--ssh-key ${f}: "${key.slice(0, 40)}…" is not an OpenSSH public key`,
          'give the .pub file (ssh-ed25519 AAAA… comment), never the private key',
        );
      }
      keys.push(key);
    }
  }
  if (keys.length === 0) throw errors.config('the --ssh-key files hold no key', 'give the .pub file of your SSH key');
  return keys;
}

/** Where the agent package comes from: --package FILE.deb or --apt-repo with its --apt-key. */
function agentSource(opts: ProvisionFlags): AgentSource {
  if (opts.package !== undefined && opts.aptRepo !== undefined) {
    throw errors.config('--package and --apt-repo are both given', 'install the agent from one: the .deb copied to each card, or your apt repository');
  }
  if (opts.package !== undefined) {
    if (!opts.package.endsWith('.deb') || !existsSync(opts.package)) {
      throw errors.config(`--package ${opts.package} is not a .deb file here`, 'build it with "npm run package:agent" and give its path');
    }
    return { kind: 'package', fileName: basename(opts.package) };
  }
  if (opts.aptRepo !== undefined) {
    if (!/^https?:\/\/\S+( \S+)+$/.test(opts.aptRepo.trim())) {
      throw errors.config(`--apt-repo "${opts.aptRepo}" is not "URL SUITE COMPONENT…"`, 'write --apt-repo "https://apt.example.com/edgefleet stable main"');
    }
    if (opts.aptKey === undefined) {
      throw errors.config(
        '--apt-repo needs --apt-key: an unsigned repository would let anyone on the path install code as root',
        'give the repository signing key: --apt-key KEY.asc',
      );
    }
    const keyText = readFlagFile(opts.aptKey, '--apt-key');
    if (!keyText.includes('-----BEGIN PGP PUBLIC KEY BLOCK-----'))
      throw errors.config(`--apt-key ${opts.aptKey} is not an ASCII-armored OpenPGP public key`, 'export it with gpg --armor --export KEYID');
    return { kind: 'apt', repo: opts.aptRepo.trim(), keyText: `${keyText}\n` };
  }
  throw errors.config(
    'no agent package source given',
    'add --package edgefleet-agent_VERSION_all.deb (copied to each card) or --apt-repo URL --apt-key KEY.asc',
  );
}

/** Checks the flags and reads their files before anything is minted or written. */
function settingsFrom(opts: ProvisionFlags, batchId: string, server: string): ProvisionSettings {
  if (opts.os !== 'trixie' && opts.os !== 'bookworm')
    throw errors.config(`unknown --os "${opts.os}"`, 'use --os trixie (cloud-init, the default) or --os bookworm (firstrun.sh)');
  if ((opts.wifiSsid === undefined) !== (opts.wifiPasswordFile === undefined)) {
    throw errors.config('--wifi-ssid and --wifi-password-file go together', 'give both, or neither for Ethernet only');
  }
  let wifi: ProvisionSettings['wifi'] = null;
  if (opts.wifiSsid !== undefined && opts.wifiPasswordFile !== undefined) {
    const password = readFlagFile(opts.wifiPasswordFile, '--wifi-password-file');
    if (password.length < 8 || password.length > 63)
      throw errors.config('the Wi-Fi password must be 8 to 63 characters (WPA2 passphrase)', 'check --wifi-password-file');
    if (opts.wifiSsid.length === 0 || Buffer.byteLength(opts.wifiSsid) > 32) throw errors.config('--wifi-ssid must be 1 to 32 bytes', 'check the network name');
    wifi = { ssid: opts.wifiSsid, password };
  }
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(opts.user))
    throw errors.config(`--user "${opts.user}" is not a Linux user name`, 'use lowercase letters, digits, - and _');
  return { os: opts.os, batchId, server, user: opts.user, sshKeys: sshKeys(opts.sshKey), wifi, agent: agentSource(opts) };
}

/** Refuses an --out folder that already holds a batch, so a second run never mixes two. */
function checkOut(dir: string): void {
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    throw errors.config(`--out ${dir} is not empty`, "give a new folder for each batch (the old one holds another batch's tokens)");
  }
}

/** Writes one device folder; files holding a secret are 0600. */
function writeDevice(dir: string, files: DeviceFile[], packageFile: string | undefined): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const f of files) writeFileDurable(join(dir, f.name), f.content, f.mode);
  if (packageFile !== undefined) writeFileSync(join(dir, basename(packageFile)), readFileSync(packageFile), { mode: 0o644 });
}

/**
 * Writes the device folders into images: one copy of the base image per device, or with
 * `shared` one image carrying only what all devices share (the package, the cmdline entry).
 */
function writeImages(opts: ProvisionFlags, manifest: BatchManifest): string[] {
  const base = opts.image as string;
  const into = opts.write as string;
  mkdirSync(into, { recursive: true, mode: 0o700 });
  const written: string[] = [];
  const prepare = (image: string) => {
    copyImage(base, image);
    const boot = new BootPartition(image);
    if (opts.package !== undefined) boot.put(opts.package, basename(opts.package));
    if (manifest.os === 'bookworm') {
      const cmdline = boot.read('cmdline.txt');
      if (cmdline === undefined) throw errors.config(`${base} has no cmdline.txt on its boot partition`, 'give a Raspberry Pi OS Bookworm image');
      const tmp = join(tmpdir(), `edgefleet-cmdline-${process.pid}.txt`);
      writeFileSync(tmp, withFirstrun(cmdline));
      try {
        boot.put(tmp, 'cmdline.txt');
      } finally {
        rmSync(tmp, { force: true });
      }
    }
    return boot;
  };
  if (opts.shared === true) {
    const image = join(into, `${manifest.batchId}-shared.img`);
    prepare(image);
    written.push(image);
    return written;
  }
  for (const d of manifest.devices) {
    const image = join(into, `${d.folder}.img`);
    const boot = prepare(image);
    const folder = join(opts.out, d.folder);
    for (const name of readdirSync(folder)) if (!name.endsWith('.deb')) boot.put(join(folder, name), name);
    written.push(image);
  }
  return written;
}

/** Checks that folder names and hostnames are distinct across the list (a serial-only row's derived hostname may collide). */
function checkNames(devices: DeviceRow[]): void {
  const seen = new Map<string, number>();
  for (const d of devices) {
    for (const name of new Set([deviceFolder(d), deviceHostname(d)])) {
      const first = seen.get(name);
      if (first !== undefined)
        throw errors.config(`line ${d.line}: the name ${name} is also used on line ${first}`, 'give one of them a distinct hostname column');
      seen.set(name, d.line);
    }
  }
}

async function provision(opts: ProvisionFlags): Promise<void> {
  const format = outputFormat(opts.output, ['table', 'json'], 'table');
  const devices = parseDeviceList(readFlagFile(opts.devices, '--devices'), opts.devices);
  checkNames(devices);
  checkOut(opts.out);
  if ((opts.image === undefined) !== (opts.write === undefined))
    throw errors.config('--image and --write go together', 'give --image BASE.img --write DIR, or neither');
  if (opts.shared === true && opts.image === undefined) throw errors.config('--shared needs --image and --write', 'add --image BASE.img --write DIR');
  if (opts.image !== undefined) new BootPartition(opts.image); // a bad image is refused before tokens are minted
  const ttlSeconds = Math.ceil(parseDuration(opts.ttl, 'ttl') / 1000);
  const releaseKey = opts.releaseKey === undefined ? undefined : releaseKeyFileFingerprint(opts.releaseKey);
  const client = clientFrom(opts);
  const server = opts.agentServer ?? client.server;
  // Everything local is checked before the server mints a token.
  settingsFrom(opts, 'check', server);

  let batch: ProvisionBatchCreated;
  try {
    batch = await client.createProvisionBatch({
      ttlSeconds,
      ...(releaseKey === undefined ? {} : { releaseKeyFingerprint: releaseKey }),
      devices: devices.map((d) => ({
        ...(d.serial === null ? {} : { serial: d.serial }),
        ...(d.hostname === null ? {} : { hostname: d.hostname }),
        site: d.site,
        labels: d.labels,
      })),
    });
  } finally {
    await client.close();
  }
  if (batch.devices.length !== devices.length)
    throw errors.serverUntrusted(`the server minted ${batch.devices.length} tokens for ${devices.length} devices`, "delete the batch's tokens and run again");
  // The pin must come from the operator's file, not the server's word (as token create checks).
  if (releaseKey !== undefined && batch.devices.some((d) => parseBootstrapToken(d.token).releaseKeyFingerprint !== releaseKey)) {
    throw errors.serverUntrusted(`the server returned tokens that do not name the release key sha256:${releaseKey}`, 'do not use them; check the server');
  }
  const settings = settingsFrom(opts, batch.id, server);
  const manifest: BatchManifest = { batchId: batch.id, createdAt: batch.createdAt, expiresAt: batch.expiresAt, os: settings.os, server, devices: [] };
  mkdirSync(opts.out, { recursive: true, mode: 0o700 });
  for (const [i, d] of devices.entries()) {
    const minted = batch.devices[i] as ProvisionBatchCreated['devices'][number];
    const folder = deviceFolder(d);
    writeDevice(join(opts.out, folder), deviceFiles(d, minted.token, settings), opts.package);
    manifest.devices.push({ folder, serial: d.serial, hostname: deviceHostname(d), site: d.site, labels: d.labels, tokenId: minted.tokenId, line: d.line });
  }
  writeFileDurable(join(opts.out, 'batch.json'), `${JSON.stringify(manifest, null, 2)}\n`, 0o644);
  const images = opts.image === undefined ? [] : writeImages(opts, manifest);

  if (format === 'json') return printData({ ...manifest, out: resolve(opts.out), images }, 'json');
  process.stdout.write(
    `${renderTable(manifest.devices, [
      { header: 'FOLDER', cell: (d) => d.folder },
      { header: 'SERIAL', cell: (d) => d.serial ?? '' },
      { header: 'HOSTNAME', cell: (d) => d.hostname },
      { header: 'SITE', cell: (d) => d.site },
      { header: 'TOKEN', cell: (d) => d.tokenId },
    ])}\n`,
  );
  process.stderr.write(
    `batch ${batch.id}: ${manifest.devices.length} device folder(s) in ${opts.out} (${settings.os}), tokens expire ${batch.expiresAt}\n` +
      (images.length === 0
        ? ''
        : `${images.length} image(s) in ${opts.write}${opts.shared === true ? ' (shared: copy each device folder onto its card after flashing)' : ''}\n`) +
      `the folders hold bootstrap tokens: keep them private; follow enrollment with "edgefleet provision status --batch ${batch.id}"\n`,
  );
}

/** `edgefleet provision`: first-boot files for every device of a CSV; `provision status`. */
export function provisionCommands(program: Command): void {
  const cmd = program
    .command('provision')
    .description('first-boot files (cloud-init or firstrun.sh) for every device of a CSV, each with its own bound, one-use token')
    .option('--devices <file>', 'device list (CSV: serial and/or hostname, site, labels k=v;k=v, address, gateway, dns)')
    .option('--out <dir>', 'new folder for one sub-folder per device and batch.json')
    .option('--os <os>', 'trixie (cloud-init NoCloud) or bookworm (firstrun.sh)', 'trixie')
    .option('--ttl <duration>', 'how long the tokens may wait for their boards (at most 30d)', '14d')
    .option('--agent-server <url>', 'control plane URL the nodes use (default: --server)')
    .option('--user <name>', 'login user made on each node (SSH keys only)', 'fleet')
    .option('--ssh-key <file>', 'OpenSSH public key allowed to log in (repeatable)', collect, [])
    .option('--wifi-ssid <ssid>', 'Wi-Fi network to join')
    .option('--wifi-password-file <file>', 'file holding the Wi-Fi passphrase')
    .option('--package <file.deb>', 'agent package copied onto each card and installed at first boot')
    .option('--apt-repo <"URL SUITE COMPONENT">', 'your apt repository holding edgefleet-agent')
    .option('--apt-key <file>', "the apt repository's signing key (ASCII-armored)")
    .option('--release-key <file>', 'root release public key (NAME.pub) every node pins')
    .option('--image <base.img>', 'Raspberry Pi OS image whose boot partition gets the files (with --write)')
    .option('--write <dir>', 'folder for the written images')
    .option('--shared', 'one shared image (package, cmdline) instead of one image per device')
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (opts: ProvisionFlags) => {
      if (opts.devices === undefined || opts.out === undefined) {
        throw errors.config(
          'provision needs --devices and --out',
          'edgefleet provision --devices devices.csv --out cards/ --ssh-key ~/.ssh/id_ed25519.pub --package edgefleet-agent.deb',
        );
      }
      await provision(opts);
    });
  withConnection(cmd);
  cmd
    .command('status')
    .description('which devices of a batch enrolled, which wait, whose token expired')
    .requiredOption('--batch <id>', 'batch id (in DIR/batch.json)')
    // -o and the connection flags are provision's own, which commander parses for both.
    .action(async (_local: unknown, self: Command) => {
      const opts = self.optsWithGlobals<{ batch: string; output: string } & ConnectionFlags>();
      const format = outputFormat(opts.output, ['table', 'json'], 'table');
      const client = clientFrom(opts);
      let batch: ProvisionBatchStatus;
      try {
        batch = await client.provisionBatchStatus(opts.batch);
      } finally {
        await client.close();
      }
      if (format !== 'table') return printData(batch, format);
      process.stdout.write(
        `${renderTable(batch.devices, [
          { header: 'SERIAL', cell: (d) => d.serial ?? '' },
          { header: 'HOSTNAME', cell: (d) => d.hostname ?? '' },
          { header: 'SITE', cell: (d) => d.site },
          { header: 'STATE', cell: (d) => d.state },
          { header: 'NODE', cell: (d) => (d.node === null ? '' : (d.node.name ?? `${d.node.id} (deleted)`)) },
          { header: 'ENROLLED', cell: (d) => d.enrolledAt ?? '' },
          { header: 'EXPIRES', cell: (d) => (d.state === 'enrolled' ? '' : d.expiresAt) },
        ])}\n`,
      );
      process.stderr.write(`batch ${batch.id}: ${batch.counts.enrolled} enrolled, ${batch.counts.pending} pending, ${batch.counts.expired} expired\n`);
    });
}
