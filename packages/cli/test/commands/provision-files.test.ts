import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { DeviceRow } from '../../src/commands/provision-csv.js';
import { deviceFiles, deviceHostname, keyfileValue, type ProvisionSettings, shellQuote, TOKEN_PATH } from '../../src/commands/provision-files.js';

const device: DeviceRow = {
  line: 2,
  serial: '05a350ebd1b50841',
  hostname: 'cam-1',
  site: 'store-12',
  labels: { tier: 'gold' },
  network: { address: '192.168.10.21/24', gateway: '192.168.10.1', dns: ['1.1.1.1'] },
};
const settings: ProvisionSettings = {
  os: 'trixie',
  batchId: 'batch-1',
  server: 'https://fleet.example.com:8443',
  user: 'fleet',
  sshKeys: ['ssh-ed25519 AAAAC3Nza op@laptop'],
  wifi: null,
  agent: { kind: 'package', fileName: 'edgefleet-agent_0.1.0_all.deb' },
};
const TOKEN = 'EF1abc::tokenid.secret';

function files(d: DeviceRow, s: ProvisionSettings): Record<string, { content: string; mode: number }> {
  return Object.fromEntries(deviceFiles(d, TOKEN, s).map((f) => [f.name, f]));
}

describe('cloud-init files (Trixie)', () => {
  it('make an SSH-keys-only user, write the token 0600 and start the agent against the server', () => {
    const f = files(device, settings);
    expect(f['user-data']?.mode).toBe(0o600);
    const userData = f['user-data']?.content as string;
    expect(userData.startsWith('#cloud-config\n')).toBe(true);
    const config = parse(userData);
    expect(config.hostname).toBe('cam-1');
    expect(config.ssh_pwauth).toBe(false);
    expect(config.users[0]).toMatchObject({ name: 'fleet', lock_passwd: true, ssh_authorized_keys: settings.sshKeys });
    expect(config.write_files[0]).toEqual({ path: TOKEN_PATH, permissions: '0600', owner: 'root:root', content: `${TOKEN}\n` });
    expect(config.write_files[1].content).toContain(`--server ${settings.server} --token-file ${TOKEN_PATH}`);
    expect(config.runcmd).toContainEqual(['apt-get', 'install', '-y', '--no-install-recommends', '/boot/firmware/edgefleet-agent_0.1.0_all.deb']);
    expect(config.runcmd.at(-1)).toEqual(['systemctl', 'enable', '--now', 'edgefleet-agent.service']);
    expect(parse(f['meta-data']?.content as string)).toEqual({ 'instance-id': 'edgefleet-batch-1-cam-1', 'local-hostname': 'cam-1' });
  });

  it('install from the operator’s signed apt repository when given', () => {
    const config = parse(
      files(device, { ...settings, agent: { kind: 'apt', repo: 'https://apt.example.com/ef stable main', keyText: 'KEY' } })['user-data']?.content as string,
    );
    expect(config.apt.sources['edgefleet.list']).toEqual({ source: 'deb https://apt.example.com/ef stable main', key: 'KEY' });
    expect(config.packages).toEqual(['edgefleet-agent']);
  });

  it('write static Ethernet from the list, DHCP otherwise, and Wi-Fi (then 0600) when given', () => {
    const f = files(device, settings);
    expect(f['network-config']?.mode).toBe(0o644);
    expect(parse(f['network-config']?.content as string).network.ethernets.eth0).toEqual({
      dhcp4: false,
      optional: false,
      addresses: ['192.168.10.21/24'],
      routes: [{ to: '0.0.0.0/0', via: '192.168.10.1' }],
      nameservers: { addresses: ['1.1.1.1'] },
    });
    const withWifi = files({ ...device, network: null }, { ...settings, wifi: { ssid: 'Shop "A"', password: 'secret-pass' } });
    expect(withWifi['network-config']?.mode).toBe(0o600);
    const net = parse(withWifi['network-config']?.content as string).network;
    expect(net.ethernets.eth0).toEqual({ dhcp4: true, optional: true });
    expect(net.wifis.wlan0['access-points']).toEqual({ 'Shop "A"': { password: 'secret-pass' } });
  });
});

describe('firstrun.sh (Bookworm)', () => {
  it('is strict bash that removes itself, writes the token 0600 and installs the agent once online', () => {
    const f = files(device, { ...settings, os: 'bookworm' });
    const script = f['firstrun.sh']?.content as string;
    expect(f['firstrun.sh']?.mode).toBe(0o600);
    expect(script.startsWith('#!/bin/bash\n')).toBe(true);
    expect(script).toContain('set -euo pipefail');
    expect(script).toContain('rm -f "$BOOT/firstrun.sh"');
    expect(script).toContain(`install -m 0600 /dev/null '${TOKEN_PATH}'`);
    expect(script).toContain(`${TOKEN}\n`);
    expect(script).toContain('PasswordAuthentication no');
    expect(script).toContain('After=network-online.target');
    expect(script).toContain('address1=192.168.10.21/24,192.168.10.1');
  });
});

describe('names and quoting', () => {
  it('derives a hostname from a serial-only row', () => {
    expect(deviceHostname({ serial: '05a350ebd1b50841', hostname: null })).toBe('pi-d1b50841');
    expect(deviceHostname({ serial: 'ab:cd', hostname: null })).toBe('pi-ab-cd');
  });
  it('quotes anything for bash', () => {
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
  });
});

describe('keyfileValue', () => {
  it('escapes what GKeyFile would read as an escape, and a leading space', () => {
    expect(keyfileValue('a\\b')).toBe('a\\\\b');
    expect(keyfileValue(' lead')).toBe('\\slead');
    expect(keyfileValue(`it's "x" $HOME;`)).toBe(`it's "x" $HOME;`);
  });
});
