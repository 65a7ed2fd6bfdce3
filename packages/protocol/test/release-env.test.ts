import { describe, expect, it } from 'vitest';
import { envNameProblem, releaseEnvProblem } from '../src/release-env.js';

describe('release environment policy', () => {
  it.each([
    'NODE_OPTIONS',
    'node_options',
    'NODE_PATH',
    'LD_PRELOAD',
    'LD_LIBRARY_PATH',
    'LD_AUDIT',
    'DYLD_INSERT_LIBRARIES',
    'PYTHONPATH',
    'PYTHONSTARTUP',
    'PERL5OPT',
    'RUBYOPT',
    'JAVA_TOOL_OPTIONS',
    'BASH_ENV',
    'BASH_FUNC_x%%',
    'GLIBC_TUNABLES',
    'GCONV_PATH',
    'EDGEFLEET_MODEL_PATH',
    'EDGEFLEET_PORT',
    'A=B',
    '1ABC',
    '',
  ])('refuses %j', (name) => {
    expect(envNameProblem(name)).toBeDefined();
  });

  it.each(['LOG_LEVEL', 'MODEL_THRESHOLD', 'HAILO_MONITOR', 'EDGEFLEET_STUB_DELAY_MS', '_X', 'OLD_PATH', 'PATH', 'TZ'])('accepts %j', (name) => {
    expect(envNameProblem(name)).toBeUndefined();
  });

  it('names the field of the first refused variable, in env or runtime.env', () => {
    expect(releaseEnvProblem({ env: { A: '1' }, runtime: { kind: 'model-server', accelerator: 'none' } })).toBeUndefined();
    expect(releaseEnvProblem({ env: { A: '1', NODE_OPTIONS: '--require /tmp/x.js' }, runtime: { kind: 'model-server', accelerator: 'none' } })).toMatchObject({
      field: 'env.NODE_OPTIONS',
      message: expect.stringContaining('run code'),
    });
    expect(releaseEnvProblem({ runtime: { kind: 'process', command: 'x', accelerator: 'none', env: { LD_PRELOAD: '/tmp/x.so' } } })).toMatchObject({
      field: 'runtime.env.LD_PRELOAD',
      message: expect.stringContaining('loader'),
    });
  });
});
