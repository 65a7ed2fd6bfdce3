import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isOwnedWorkload, leftoverWorkloadPids, type WorkloadOwner } from '../../src/workloads/leftovers.js';

const owner: WorkloadOwner = { dataDir: '/var/lib/edgefleet', workDirRoot: '/var/lib/edgefleet-workloads' };
const environ = (vars: Record<string, string>): string =>
  `${Object.entries(vars)
    .map(([k, v]) => `${k}=${v}`)
    .join('\0')}\0`;
const model = (path: string): string => environ({ PATH: '/usr/bin', EDGEFLEET_DEPLOYMENT: 'detect', EDGEFLEET_REVISION: '5', EDGEFLEET_MODEL_PATH: path });

describe('telling an earlier agent’s workload processes from every other process', () => {
  it.each([
    ['its model in the data folder', model('/var/lib/edgefleet/artifacts/sha256/abc'), '/', true],
    ['another agent’s data folder that starts with the same text', model('/var/lib/edgefleet2/artifacts/sha256/abc'), '/', false],
    ['a model path that climbs out of the data folder', model('/var/lib/edgefleet/../other/artifacts/abc'), '/', false],
    ['the data folder itself, not a file in it', model('/var/lib/edgefleet'), '/', false],
    ['a relative model path, read from the process’s own folder', model('edgefleet/artifacts/sha256/abc'), '/var/lib', true],
    ['a relative model path from elsewhere', model('edgefleet/artifacts/sha256/abc'), '/srv', false],
    ['run as the workload user: its folder under the workload root', model('/proc/self/fd/3'), '/var/lib/edgefleet-workloads/detect', true],
    ['a folder beside the workload root', model('/proc/self/fd/3'), '/var/lib/edgefleet-workloads-old/detect', false],
    [
      'a process that names no deployment, even with a path in the data folder',
      environ({ EDGEFLEET_MODEL_PATH: '/var/lib/edgefleet/artifacts/abc' }),
      '/var/lib/edgefleet-workloads/x',
      false,
    ],
    ['a zombie (its environment reads empty)', '', '/var/lib/edgefleet-workloads/detect', false],
    [
      'a variable that merely mentions the data folder',
      environ({ EDGEFLEET_DEPLOYMENT: 'detect', NOTES: '/var/lib/edgefleet/artifacts/abc', EDGEFLEET_MODEL_PATH: '/models/m.onnx' }),
      '/',
      false,
    ],
  ])('%s → %s', (_case, text, cwd, owned) => {
    expect(isOwnedWorkload(text, cwd, owner)).toBe(owned);
  });

  it('does not take a process by its working folder when workloads do not run as the workload user', () => {
    expect(isOwnedWorkload(model('/proc/self/fd/3'), '/var/lib/edgefleet-workloads/detect', { ...owner, workDirRoot: undefined })).toBe(false);
  });
});

describe('finding the leftovers in a process table', () => {
  let proc: string;
  beforeEach(() => {
    proc = mkdtempSync(join(tmpdir(), 'edgefleet-proc-'));
  });
  afterEach(() => rmSync(proc, { recursive: true, force: true }));

  function processEntry(pid: string, text: string | undefined, cwd: string | undefined): void {
    mkdirSync(join(proc, pid));
    if (text !== undefined) writeFileSync(join(proc, pid, 'environ'), text);
    if (cwd !== undefined) symlinkSync(cwd, join(proc, pid, 'cwd'));
  }

  it('lists the owner’s workloads, and skips other processes, unreadable ones and non-process entries', () => {
    processEntry('101', model('/var/lib/edgefleet/artifacts/sha256/abc'), '/');
    processEntry('102', model('/var/lib/edgefleet2/artifacts/sha256/abc'), '/');
    processEntry('103', undefined, undefined); // gone between the listing and the read
    processEntry('104', model('/proc/self/fd/3'), '/var/lib/edgefleet-workloads/detect');
    processEntry('self', model('/var/lib/edgefleet/artifacts/sha256/abc'), '/');
    processEntry(String(process.pid), model('/var/lib/edgefleet/artifacts/sha256/abc'), '/');
    expect(leftoverWorkloadPids(owner, proc).sort()).toEqual([101, 104]);
  });
});
