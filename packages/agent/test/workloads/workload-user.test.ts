import { chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { acceleratorGroups, resolveWorkloadUser, setprivCommand, type UserSystem } from '../../src/workloads/workload-user.js';

function system(over: Partial<UserSystem> & { users?: Map<string, { uid: number; gid: number }> } = {}): UserSystem & { created: string[] } {
  const users = over.users ?? new Map();
  const created: string[] = [];
  return {
    created,
    isRoot: () => true,
    lookup: (name) => users.get(name),
    create: (name) => {
      created.push(name);
      users.set(name, { uid: 990, gid: 990 });
    },
    setpriv: () => '/usr/bin/setpriv',
    ...over,
  };
}

describe('resolveWorkloadUser', () => {
  it('creates the user when it is missing and the agent is root', () => {
    const sys = system();
    expect(resolveWorkloadUser('edgefleet-workload', sys)).toEqual({
      kind: 'dedicated',
      user: { name: 'edgefleet-workload', uid: 990, gid: 990 },
      setpriv: '/usr/bin/setpriv',
    });
    expect(sys.created).toEqual(['edgefleet-workload']);
  });

  it('takes an existing user as it is', () => {
    const sys = system({ users: new Map([['ml', { uid: 1001, gid: 1001 }]]) });
    expect(resolveWorkloadUser('ml', sys)).toMatchObject({ kind: 'dedicated', user: { uid: 1001 } });
    expect(sys.created).toEqual([]);
  });

  it('runs workloads as the agent when it is not root, and says why', () => {
    const sys = system({ isRoot: () => false });
    expect(resolveWorkloadUser('edgefleet-workload', sys)).toEqual({ kind: 'agent', reason: expect.stringContaining('does not run as root') });
    expect(sys.created).toEqual([]);
  });

  it('runs them as the agent when told so, or when nothing is configured', () => {
    expect(resolveWorkloadUser(false, system())).toMatchObject({ kind: 'agent', reason: expect.stringContaining('off') });
    expect(resolveWorkloadUser(undefined, system())).toMatchObject({ kind: 'agent' });
  });

  it('refuses a user that is root, and a name that is no user name', () => {
    expect(() => resolveWorkloadUser('toor', system({ users: new Map([['toor', { uid: 0, gid: 0 }]]) }))).toThrow(/is root/);
    expect(() => resolveWorkloadUser('wheel-ish', system({ users: new Map([['wheel-ish', { uid: 5, gid: 0 }]]) }))).toThrow(/is root/);
    expect(() => resolveWorkloadUser('../etc', system())).toThrow(/not a user name/);
  });
});

describe('setprivCommand', () => {
  const user = { name: 'w', uid: 990, gid: 990 };
  it('switches uid and gid, keeps only the device groups, sets no_new_privs, drops inheritable capabilities', () => {
    expect(setprivCommand('/usr/bin/setpriv', user, [44, 0, 990], '/usr/bin/node', ['main.js'])).toEqual({
      command: '/usr/bin/setpriv',
      args: ['--reuid=990', '--regid=990', '--groups=44', '--no-new-privs', '--inh-caps=-all', '--', '/usr/bin/node', 'main.js'],
    });
    expect(setprivCommand('/usr/bin/setpriv', user, [], 'x', []).args).toContain('--clear-groups');
  });
});

describe('acceleratorGroups', () => {
  const root = mkdtempSync(join(tmpdir(), 'ef-devgroups-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  it("takes each device node's group, never group 0, and skips what is not a device path", () => {
    mkdirSync(join(root, 'dev'));
    writeFileSync(join(root, 'dev/apex_0'), '');
    writeFileSync(join(root, 'dev/hailo0'), '');
    const isRoot = process.getuid?.() === 0;
    if (isRoot) chownSync(join(root, 'dev/apex_0'), 0, 4242);
    expect(acceleratorGroups(root, ['/dev/hailo0', '/dev/apex_0', '/dev/missing', 'usb:18d1:9302'])).toEqual(
      isRoot ? [4242] : [process.getgid?.()].filter((g) => g !== 0),
    );
  });
});
