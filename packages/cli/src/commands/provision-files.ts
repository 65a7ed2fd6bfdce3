import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import type * as Yaml from 'yaml';
import type { DeviceRow } from './provision-csv.js';

/**
 * What `edgefleet provision` writes for one device: the files that go on the root of its SD
 * card's boot partition (/boot/firmware on the running system). Pure: text in, text out.
 *
 * - Trixie (Raspberry Pi OS from 2025-10): cloud-init NoCloud `user-data`, `meta-data`,
 *   `network-config` (netplan v2).
 * - Bookworm: `firstrun.sh`, the Raspberry Pi Imager convention (started once from
 *   cmdline.txt with `systemd.run=`, removes itself). It cannot reach the network (it runs
 *   before it is up), so it installs a oneshot unit that installs the agent once online.
 */

const yaml = (): typeof Yaml => createRequire(import.meta.url)('yaml') as typeof Yaml;

/** Where the node keeps its bootstrap token (0600, root): the agent reads it once, at enrollment. */
export const TOKEN_PATH = '/etc/edgefleet/bootstrap-token';
/** The agent's systemd unit, from the edgefleet-agent package. */
export const AGENT_UNIT = 'edgefleet-agent.service';
/**
 * The drop-in that tells the packaged unit where the control plane is and where the token
 * is: it replaces the unit's command line, so it works whatever the package's default is.
 */
export const AGENT_DROP_IN = '/etc/systemd/system/edgefleet-agent.service.d/10-provision.conf';
/** The packaged agent command; it takes the flags of `edgefleet agent`. */
export const AGENT_COMMAND = '/usr/bin/edgefleet-agent';
const AGENT_DATA = '/var/lib/edgefleet';

/** Where the agent package comes from: a .deb copied onto the boot partition, or the operator's signed apt repository. */
export type AgentSource = { kind: 'package'; fileName: string } | { kind: 'apt'; repo: string; keyText: string };

/** Settings shared by every device of a batch. */
export interface ProvisionSettings {
  os: 'trixie' | 'bookworm';
  batchId: string;
  /** The control plane URL nodes use. */
  server: string;
  /** The login user made on each node; SSH keys only, password locked. */
  user: string;
  /** OpenSSH public key lines. */
  sshKeys: string[];
  wifi: { ssid: string; password: string } | null;
  agent: AgentSource;
}

/** One file of a device folder; `mode` 0600 for files holding a secret. */
export interface DeviceFile {
  name: string;
  content: string;
  mode: number;
}

/** A device's folder name: its hostname when listed, else its serial. */
export function deviceFolder(d: Pick<DeviceRow, 'serial' | 'hostname'>): string {
  return d.hostname ?? (d.serial as string);
}

/** The hostname a device gets: the listed one, else `pi-` and the serial's last 8 characters. */
export function deviceHostname(d: Pick<DeviceRow, 'serial' | 'hostname'>): string {
  if (d.hostname !== null) return d.hostname;
  const tail = (d.serial as string)
    .slice(-8)
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return `pi-${tail === '' ? 'node' : tail}`;
}

/** The agent's command line in the unit drop-in. */
function dropIn(settings: ProvisionSettings): string {
  return [
    `# Written by edgefleet provision (batch ${settings.batchId}): where this node's control plane is.`,
    '[Service]',
    'ExecStart=',
    // Keeps the package's config (telemetry, ports) and adds this device's server and token.
    `ExecStart=${AGENT_COMMAND} --config /etc/edgefleet/agent.yaml --server ${settings.server} --token-file ${TOKEN_PATH} --data ${AGENT_DATA}`,
    '',
  ].join('\n');
}

/** The netplan v2 document for a device (Ethernet by DHCP or static, and Wi-Fi when given). */
export function networkConfig(d: DeviceRow, settings: ProvisionSettings): Record<string, unknown> {
  const eth: Record<string, unknown> = { dhcp4: true, optional: settings.wifi !== null };
  const net = d.network;
  if (net !== null) {
    if (net.address !== null) {
      const v6 = isIP(net.address.split('/')[0] ?? '') === 6;
      if (!v6) eth.dhcp4 = false;
      eth.addresses = [net.address];
      // `0.0.0.0/0` rather than `default`: older cloud-init (Debian 12's 22.4) and netplan read only the former.
      if (net.gateway !== null) eth.routes = [{ to: isIP(net.gateway) === 6 ? '::/0' : '0.0.0.0/0', via: net.gateway }];
    }
    if (net.dns.length > 0) eth.nameservers = { addresses: net.dns };
  }
  const network: Record<string, unknown> = { version: 2, ethernets: { eth0: eth } };
  if (settings.wifi !== null) {
    network.wifis = {
      wlan0: { dhcp4: true, optional: true, 'access-points': { [settings.wifi.ssid]: { password: settings.wifi.password } } },
    };
  }
  return { network };
}

/** The files of one device for Trixie's cloud-init (NoCloud on the boot partition). */
export function cloudInitFiles(d: DeviceRow, token: string, settings: ProvisionSettings): DeviceFile[] {
  const hostname = deviceHostname(d);
  const runcmd: unknown[] = [];
  const config: Record<string, unknown> = {
    hostname,
    manage_etc_hosts: true,
    ssh_pwauth: false,
    disable_root: true,
    users: [
      {
        name: settings.user,
        groups: ['adm', 'sudo', 'video', 'plugdev', 'netdev'],
        shell: '/bin/bash',
        sudo: 'ALL=(ALL) NOPASSWD:ALL',
        lock_passwd: true,
        ssh_authorized_keys: settings.sshKeys,
      },
    ],
    write_files: [
      { path: TOKEN_PATH, permissions: '0600', owner: 'root:root', content: `${token}\n` },
      { path: AGENT_DROP_IN, permissions: '0644', owner: 'root:root', content: dropIn(settings) },
    ],
  };
  if (settings.agent.kind === 'apt') {
    config.apt = { sources: { 'edgefleet.list': { source: `deb ${settings.agent.repo}`, key: settings.agent.keyText } } };
    config.package_update = true;
    config.packages = ['edgefleet-agent'];
  } else {
    // The package sits beside user-data on the boot partition; apt resolves its Depends (nodejs).
    runcmd.push(['apt-get', 'install', '-y', '--no-install-recommends', `/boot/firmware/${settings.agent.fileName}`]);
  }
  runcmd.push(['systemctl', 'daemon-reload'], ['systemctl', 'enable', '--now', AGENT_UNIT]);
  config.runcmd = runcmd;
  const header = `#cloud-config\n# edgefleet provision, batch ${settings.batchId}, device ${deviceFolder(d)}.\n# Holds this device's one-use bootstrap token: keep it secret until the device has enrolled.\n`;
  const wifiSecret = settings.wifi !== null;
  return [
    { name: 'user-data', content: header + yaml().stringify(config, { lineWidth: 0 }), mode: 0o600 },
    {
      name: 'meta-data',
      content: yaml().stringify({ 'instance-id': `edgefleet-${settings.batchId}-${deviceFolder(d)}`, 'local-hostname': hostname }),
      mode: 0o644,
    },
    { name: 'network-config', content: yaml().stringify(networkConfig(d, settings), { lineWidth: 0 }), mode: wifiSecret ? 0o600 : 0o644 },
  ];
}

/** Quotes a string for bash: single quotes, with each single quote closed, escaped and reopened. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * A heredoc writing `content` to `path` with `mode` (the delimiter never occurs in the
 * content). `path` is quoted for the shell unless `shellPath` gives the expression to use.
 */
function writeFile(path: string, content: string, mode: string, shellPath?: { file: string; dir: string }): string {
  let tag = 'EDGEFLEET_EOF';
  while (content.includes(tag)) tag += '_';
  const body = content.endsWith('\n') ? content : `${content}\n`;
  const file = shellPath?.file ?? shellQuote(path);
  const dir = shellPath?.dir ?? shellQuote(path.slice(0, path.lastIndexOf('/')));
  return `install -d -m 0755 ${dir}\ninstall -m ${mode} /dev/null ${file}\ncat > ${file} <<'${tag}'\n${body}${tag}\n`;
}

/** A string value in a GKeyFile (NetworkManager keyfiles): backslashes and a leading space escaped. */
export function keyfileValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/^ /, '\\s');
}

/** A NetworkManager keyfile (Bookworm uses NetworkManager). */
function nmConnection(id: string, lines: string[]): string {
  return [`[connection]`, `id=${id}`, ...lines, ''].join('\n');
}

/** The NetworkManager keyfiles of a device: a static Ethernet profile and Wi-Fi, when listed. */
function bookwormNetwork(d: DeviceRow, settings: ProvisionSettings): { name: string; content: string }[] {
  const files: { name: string; content: string }[] = [];
  const net = d.network;
  if (net !== null) {
    const v6 = net.address !== null && isIP(net.address.split('/')[0] ?? '') === 6;
    const family = v6 ? 'ipv6' : 'ipv4';
    const section = [`[${family}]`];
    if (net.address !== null) {
      section.push('method=manual', `address1=${net.address}${net.gateway === null ? '' : `,${net.gateway}`}`);
    } else section.push('method=auto');
    if (net.dns.length > 0) section.push(`dns=${net.dns.join(';')};`);
    files.push({
      name: 'edgefleet-eth0.nmconnection',
      content: nmConnection('edgefleet-eth0', ['type=ethernet', 'interface-name=eth0', 'autoconnect=true', '', ...section]),
    });
  }
  if (settings.wifi !== null) {
    files.push({
      name: 'edgefleet-wlan0.nmconnection',
      content: nmConnection('edgefleet-wlan0', [
        'type=wifi',
        'interface-name=wlan0',
        'autoconnect=true',
        '',
        '[wifi]',
        'mode=infrastructure',
        `ssid=${keyfileValue(settings.wifi.ssid)}`,
        '',
        '[wifi-security]',
        'key-mgmt=wpa-psk',
        `psk=${keyfileValue(settings.wifi.password)}`,
        '',
        '[ipv4]',
        'method=auto',
      ]),
    });
  }
  return files;
}

/** The Bookworm `firstrun.sh` of one device: the same setup as the cloud-init files, in bash. */
export function firstrunScript(d: DeviceRow, token: string, settings: ProvisionSettings): DeviceFile {
  const hostname = deviceHostname(d);
  const user = shellQuote(settings.user);
  const keys = settings.sshKeys.map((k) => `${k}\n`).join('');
  const install =
    settings.agent.kind === 'package'
      ? `apt-get install -y --no-install-recommends /var/lib/edgefleet-provision/${settings.agent.fileName}`
      : 'apt-get update && apt-get install -y --no-install-recommends edgefleet-agent';
  const firstboot = [
    '[Unit]',
    'Description=edgefleet provision: install and start the agent once the network is up',
    'Wants=network-online.target',
    'After=network-online.target',
    'ConditionPathExists=!/var/lib/edgefleet-provision/done',
    '',
    '[Service]',
    'Type=oneshot',
    `ExecStart=/bin/sh -c ${shellQuote(`${install} && systemctl daemon-reload && systemctl enable --now ${AGENT_UNIT} && touch /var/lib/edgefleet-provision/done`)}`,
    'Restart=on-failure',
    'RestartSec=30',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
  const parts: string[] = [
    '#!/bin/bash',
    `# edgefleet provision, batch ${settings.batchId}, device ${deviceFolder(d)}: first boot of a Bookworm image.`,
    '# Started once from cmdline.txt (systemd.run=/boot/firmware/firstrun.sh), as Raspberry Pi Imager does;',
    "# removes itself and its cmdline.txt entry. Holds this device's one-use bootstrap token: keep it secret.",
    'set -euo pipefail',
    '',
    'BOOT=/boot/firmware',
    '[ -d "$BOOT" ] || BOOT=/boot',
    'cleanup() {',
    '  rm -f "$BOOT/firstrun.sh"',
    `  sed -i 's| systemd.run.*||g' "$BOOT/cmdline.txt"`,
    '}',
    'trap cleanup EXIT',
    '',
    '# Hostname',
    `echo ${shellQuote(hostname)} > /etc/hostname`,
    `sed -i "s/127.0.1.1.*/127.0.1.1\\t"${shellQuote(hostname)}"/g" /etc/hosts`,
    '',
    '# The login user: SSH keys only, password locked.',
    `if ! id -u ${user} >/dev/null 2>&1; then useradd -m -s /bin/bash -G adm,sudo,video,plugdev,netdev ${user}; fi`,
    `passwd -l ${user}`,
    `HOME_DIR=$(getent passwd ${user} | cut -d: -f6)`,
    writeFile('~/.ssh/authorized_keys', keys, '0600', { file: '"$HOME_DIR/.ssh/authorized_keys"', dir: '"$HOME_DIR/.ssh"' }),
    `chown -R ${user}: "$HOME_DIR/.ssh"`,
    `chmod 0700 "$HOME_DIR/.ssh"`,
    writeFile(`/etc/sudoers.d/010-edgefleet-${settings.user}`, `${settings.user} ALL=(ALL) NOPASSWD:ALL`, '0440'),
    writeFile('/etc/ssh/sshd_config.d/10-edgefleet.conf', 'PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin no', '0644'),
    'rm -f /etc/ssh/sshd_config.d/rename_user.conf',
    'systemctl disable userconfig.service >/dev/null 2>&1 || true',
    'systemctl enable ssh.service',
    '',
    '# Network',
    ...bookwormNetwork(d, settings).map((f) => writeFile(`/etc/NetworkManager/system-connections/${f.name}`, f.content, '0600')),
    ...(settings.wifi === null ? [] : ['rfkill unblock wifi || true']),
    '',
    '# The agent: its token, where the control plane is, and a unit that installs it once online.',
    writeFile(TOKEN_PATH, token, '0600'),
    writeFile(AGENT_DROP_IN, dropIn(settings), '0644'),
    'install -d -m 0700 /var/lib/edgefleet-provision',
  ];
  if (settings.agent.kind === 'package') {
    parts.push(`install -m 0600 "$BOOT/${settings.agent.fileName}" /var/lib/edgefleet-provision/`);
  } else {
    parts.push(
      writeFile('/etc/apt/keyrings/edgefleet.asc', settings.agent.keyText, '0644'),
      writeFile('/etc/apt/sources.list.d/edgefleet.list', `deb [signed-by=/etc/apt/keyrings/edgefleet.asc] ${settings.agent.repo}`, '0644'),
    );
  }
  parts.push(writeFile('/etc/systemd/system/edgefleet-firstboot.service', firstboot, '0644'), 'systemctl enable edgefleet-firstboot.service', '');
  return { name: 'firstrun.sh', content: `${parts.join('\n')}\n`, mode: 0o600 };
}

/** Every file of one device's folder, for the batch's OS. */
export function deviceFiles(d: DeviceRow, token: string, settings: ProvisionSettings): DeviceFile[] {
  return settings.os === 'trixie' ? cloudInitFiles(d, token, settings) : [firstrunScript(d, token, settings)];
}
