import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { modelServerConfigFromEnv, modelServerEntry, modelServerEnv } from '../../src/model-server/entry.js';

describe('model server entry', () => {
  it('runs main.ts through the tsx loader when running from sources', () => {
    const entry = modelServerEntry();
    expect(entry.command).toBe(process.execPath);
    expect(entry.args).toHaveLength(3);
    expect(entry.args[0]).toBe('--import');
    // An absolute URL, so the child finds tsx whatever its working directory.
    expect(entry.args[1]).toMatch(/^file:\/\/.*\/tsx\/.*\.mjs$/);
    expect(entry.args[2]).toMatch(/model-server\/main\.ts$/);
    expect(existsSync(entry.args[2]!)).toBe(true);
  });

  it('round-trips its configuration through the environment, with defaults for host and version', () => {
    const config = { modelPath: '/m/a.onnx', modelName: 'det', modelVersion: '7', host: '0.0.0.0', port: 8500 };
    expect(modelServerConfigFromEnv(modelServerEnv(config))).toEqual({ ok: true, config });
    expect(modelServerConfigFromEnv({ EDGEFLEET_MODEL_PATH: '/m/a.onnx', EDGEFLEET_MODEL_NAME: 'det', EDGEFLEET_PORT: '0' })).toEqual({
      ok: true,
      config: { modelPath: '/m/a.onnx', modelName: 'det', modelVersion: '1', host: '127.0.0.1', port: 0 },
    });
  });

  it.each([
    [{ EDGEFLEET_MODEL_NAME: 'det', EDGEFLEET_PORT: '1' }, /EDGEFLEET_MODEL_PATH is not set/],
    [{ EDGEFLEET_MODEL_PATH: '/m', EDGEFLEET_PORT: '1' }, /EDGEFLEET_MODEL_NAME is not set/],
    [{ EDGEFLEET_MODEL_PATH: '/m', EDGEFLEET_MODEL_NAME: 'det' }, /EDGEFLEET_PORT must be a port number/],
    [{ EDGEFLEET_MODEL_PATH: '/m', EDGEFLEET_MODEL_NAME: 'det', EDGEFLEET_PORT: '70000' }, /EDGEFLEET_PORT must be a port number 0-65535, got "70000"/],
    [{ EDGEFLEET_MODEL_PATH: '/m', EDGEFLEET_MODEL_NAME: 'det', EDGEFLEET_PORT: 'http' }, /EDGEFLEET_PORT/],
  ])('says what is wrong with %j', (env, message) => {
    const parsed = modelServerConfigFromEnv(env);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error).toMatch(message);
  });
});
