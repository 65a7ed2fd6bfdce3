import { describe, expect, it } from 'vitest';
import { acceleratorDeviceMappings } from '../../../src/workloads/container/devices.js';
import { parseStats } from '../../../src/workloads/container/engine.js';
import { type ContainerLaunch, containerLabels, containerName, containerRunArgs } from '../../../src/workloads/container/run-args.js';
import { nodePlatform, registryFor } from '../../../src/workloads/supervisor.js';

function launch(over: Partial<ContainerLaunch> = {}): ContainerLaunch {
  return {
    imageId: 'c0ffee',
    reference: 'registry.example/team/detector@sha256:1',
    name: 'edgefleet-detect-r1-primary-0a0b0c0d',
    labels: { 'io.edgefleet.agent': 'k' },
    containerPort: 8080,
    hostPort: 41000,
    command: undefined,
    args: undefined,
    env: { B: '2', A: '1' },
    resources: undefined,
    capabilities: [],
    devices: [],
    groups: [],
    user: '65534:65534',
    network: 'bridge',
    ...over,
  };
}

/** The value after each occurrence of `flag`. */
function values(args: string[], flag: string): string[] {
  return args.flatMap((a, i) => (a === flag ? [args[i + 1] as string] : []));
}

describe('podman run arguments', () => {
  it('isolates by default: no capabilities, read-only root with a tmpfs, non-root, no new privileges, limits, loopback port, never pulls', () => {
    const args = containerRunArgs(launch());
    expect(args.slice(0, 2)).toEqual(['run', '--rm']);
    expect(args).toContain('--pull=never');
    expect(args).toContain('--cap-drop=all');
    expect(args.filter((a) => a.startsWith('--cap-add'))).toEqual([]);
    expect(args).toContain('--read-only');
    expect(values(args, '--tmpfs')).toEqual(['/tmp:rw,size=64m,mode=1777,nosuid,nodev']);
    expect(values(args, '--user')).toEqual(['65534:65534']);
    expect(values(args, '--security-opt')).toEqual(['no-new-privileges']);
    expect(values(args, '--ulimit')).toEqual(['nofile=1024:1024', 'nproc=1024:1024']);
    expect(values(args, '--publish')).toEqual(['127.0.0.1:41000:8080/tcp']);
    expect(values(args, '--device')).toEqual([]);
    expect(args).not.toContain('--privileged');
    expect(args.at(-1)).toBe('c0ffee');
    expect(values(args, '--env')).toEqual(['A=1', 'B=2']);
  });

  it.each([
    { resources: { memory: '64Mi' }, memory: ['67108864b'], cpus: [] },
    { resources: { cpu: '500m', memory: '1Gi' }, memory: ['1073741824b'], cpus: ['0.500'] },
    { resources: { cpu: 2 }, memory: [], cpus: ['2.000'] },
  ])('limits from resources $resources', ({ resources, memory, cpus }) => {
    const args = containerRunArgs(launch({ resources }));
    expect(values(args, '--memory')).toEqual(memory);
    expect(values(args, '--memory-swap')).toEqual(memory);
    expect(values(args, '--cpus')).toEqual(cpus);
  });

  it('keeps only the capabilities the release names, and passes only the given devices and their groups', () => {
    const args = containerRunArgs(
      launch({
        capabilities: ['SYS_NICE', 'NET_BIND_SERVICE', 'SYS_NICE'],
        devices: [{ host: '/fx/dev/hailo0', container: '/dev/hailo0' }],
        groups: [44, 0, 44],
      }),
    );
    expect(args.filter((a) => a.startsWith('--cap-add'))).toEqual(['--cap-add=NET_BIND_SERVICE', '--cap-add=SYS_NICE']);
    expect(values(args, '--device')).toEqual(['/fx/dev/hailo0:/dev/hailo0:rw']);
    expect(values(args, '--group-add')).toEqual(['44']);
  });

  it('overrides the entrypoint only when the release gives a command', () => {
    const args = containerRunArgs(launch({ command: '/bin/serve', args: ['--port', '8080'] }));
    expect(values(args, '--entrypoint')).toEqual(['/bin/serve']);
    expect(args.slice(-3)).toEqual(['c0ffee', '--port', '8080']);
  });

  it.each(['0', '0:0', 'root', 'root:root'])('refuses to run as root (%s)', (user) => {
    expect(() => containerRunArgs(launch({ user }))).toThrow(/as root/);
  });

  it('names and labels containers so the agent finds its own', () => {
    expect(containerName('detect/x y', 3, 'fallback', 'abcd')).toBe('edgefleet-detect-x-y-r3-fallback-abcd');
    expect(containerLabels('k', 'detect', 3, 'primary', [{ host: '/x/dev/hailo0', container: '/dev/hailo0' }])).toEqual({
      'io.edgefleet.agent': 'k',
      'io.edgefleet.deployment': 'detect',
      'io.edgefleet.revision': '3',
      'io.edgefleet.part': 'primary',
      'io.edgefleet.devices': '/dev/hailo0',
    });
  });
});

describe('accelerator device nodes', () => {
  it.each([
    { accelerators: [{ device: '/dev/hailo0' }], want: [{ host: '/hw/dev/hailo0', container: '/dev/hailo0' }] },
    { accelerators: [{ device: '/dev/h1x-0' }, { device: '/dev/apex_0' }], want: ['/dev/h1x-0', '/dev/apex_0'] },
    { accelerators: [{ device: 'pci:0001:01:00.0' }], want: [] },
    { accelerators: [{ device: 'usb:18d1:9302', busLocation: '2-1' }], want: ['/dev/bus/usb/002/007'] },
    { accelerators: [{ device: 'usb:18d1:9302', busLocation: '../../etc' }], want: [] },
    { accelerators: [{ device: '/dev/../etc/shadow' }], want: [] },
  ])('$accelerators', ({ accelerators, want }) => {
    const sys: Record<string, string> = { 'sys/bus/usb/devices/2-1/busnum': '2', 'sys/bus/usb/devices/2-1/devnum': '7' };
    const got = acceleratorDeviceMappings('/hw', accelerators, (p) => sys[p]);
    if (want.every((w) => typeof w === 'string')) expect(got.map((d) => d.container)).toEqual(want);
    else expect(got).toEqual(want);
  });
});

describe('engine readings and registry access', () => {
  it('parses podman stats lines and skips what does not fit', () => {
    const stats = parseStats('edgefleet-a 2500000000 1048576 67108864\nbroken line\nedgefleet-b -- 1 2\n');
    expect([...stats]).toEqual([['edgefleet-a', { cpuSeconds: 2.5, memoryBytes: 1048576, memoryLimitBytes: 67108864 }]]);
  });

  it('finds the registry entry by host and port', () => {
    const regs = [
      { name: 'a', server: 'https://registry.example', caPem: null, username: null, password: null },
      { name: 'b', server: 'https://registry.example:5000', caPem: null, username: 'u', password: 'p' },
      { name: 'bad', server: 'not a url', caPem: null, username: null, password: null },
    ];
    expect(registryFor('registry.example:5000', regs)?.name).toBe('b');
    expect(registryFor('registry.example', regs)?.name).toBe('a');
    expect(registryFor('other.example', regs)).toBeUndefined();
  });

  it.each([
    ['x64', 'linux/amd64'],
    ['arm64', 'linux/arm64'],
  ])('platform of %s is %s', (arch, platform) => {
    expect(nodePlatform(arch)).toBe(platform);
  });
});
