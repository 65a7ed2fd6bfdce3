import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAgentConfig, parseAgentSettings, parseSize } from '../src/config.js';

describe('the agent config file', () => {
  it('turns a full telemetry section into options', () => {
    const opts = parseAgentConfig(
      [
        'telemetry:',
        '  profile: metered',
        '  queueSize: 32MiB',
        '  logQueueSize: 1048576',
        '  metricsListen: false',
        '  alerts: { diskPercent: 85, disabled: [NodeThrottled] }',
        '  logs:',
        '    ratePerSecond: 2',
        '    scrub:',
        '      rules: [{ name: customer-id, pattern: "CUST-[0-9]{6}" }]',
        '      dropFields: [user.address]',
      ].join('\n'),
    );
    expect(opts).toEqual({
      profile: 'metered',
      queueBytes: 32 * 1024 * 1024,
      logQueueBytes: 1048576,
      metricsListen: false,
      alerts: { diskPercent: 85, disabled: ['NodeThrottled'] },
      logRatePerSecond: 2,
      scrub: { rules: [{ name: 'customer-id', pattern: 'CUST-[0-9]{6}' }], dropFields: ['user.address'] },
    });
    expect(parseAgentConfig('')).toEqual({});
  });

  it('reads who workloads run as (workloads.user), a name or false', () => {
    expect(parseAgentSettings('workloads:\n  user: ml-runner\n')).toEqual({ telemetry: {}, workloadUser: 'ml-runner' });
    expect(parseAgentSettings('workloads:\n  user: false\n').workloadUser).toBe(false);
    expect(parseAgentSettings('').workloadUser).toBeUndefined();
    expect(() => parseAgentSettings('workloads:\n  usr: x\n', 'agent.yaml')).toThrow(/agent\.yaml:2: workloads/);
  });

  it('reads the inference address (workloads.inferenceListen) and refuses one that is not an IP address', () => {
    expect(parseAgentSettings('workloads:\n  inferenceListen: 192.168.1.20\n').inferenceListen).toBe('192.168.1.20');
    expect(parseAgentSettings('workloads:\n  user: x\n').inferenceListen).toBeUndefined();
    expect(() => parseAgentSettings('workloads:\n  inferenceListen: 0.0.0.0:8080\n', 'agent.yaml')).toThrow(
      /agent\.yaml: workloads\.inferenceListen "0\.0\.0\.0:8080" is not an IP address/,
    );
  });

  it("reads the node's own settings the packaged service starts from (server, tokenFile, site, labels)", () => {
    const text = readFileSync(new URL('../../../packaging/deb/agent.yaml', import.meta.url), 'utf8');
    // The config the .deb ships parses, and names the token file in the private folder.
    expect(parseAgentSettings(text, '/etc/edgefleet/agent.yaml')).toEqual({
      telemetry: { profile: 'lan', metricsListen: '127.0.0.1:9464' },
      workloadUser: 'edgefleet-workload',
      tokenFile: '/etc/edgefleet/private/bootstrap-token',
    });
    const node = parseAgentSettings('server: https://fleet.example:8443\nsite: plant-3\nlabels: { line: packaging }\n');
    expect(node).toEqual({ telemetry: {}, workloadUser: undefined, server: 'https://fleet.example:8443', site: 'plant-3', labels: { line: 'packaging' } });
    expect(() => parseAgentSettings('server: ""\n', 'agent.yaml')).toThrow(/agent\.yaml:1: server/);
    // Replicas: a list of URLs (issue 18); an empty list or an empty URL is refused.
    expect(parseAgentSettings('server: [https://cp-1:8443, https://cp-2:8443]\n').server).toEqual(['https://cp-1:8443', 'https://cp-2:8443']);
    expect(() => parseAgentSettings('server: []\n', 'agent.yaml')).toThrow(/agent\.yaml:1: server/);
    expect(() => parseAgentSettings('server: [https://cp-1:8443, ""]\n', 'agent.yaml')).toThrow(/agent\.yaml:1: server/);
    expect(() => parseAgentSettings('labels: { line: 3 }\n', 'agent.yaml')).toThrow(/labels\.line/);
  });

  it('names the file, line and field of a mistake', () => {
    const text = ['telemetry:', '  profile: lan', '  alerts:', '    diskPercent: 120'].join('\n');
    expect(() => parseAgentConfig(text, 'agent.yaml')).toThrow(/agent\.yaml:4: telemetry\.alerts\.diskPercent: must be at most 100/);
    expect(() => parseAgentConfig('telemetry:\n  profil: lan\n', 'agent.yaml')).toThrow(/agent\.yaml.*telemetry.*profil/);
    expect(() => parseAgentConfig('telemetry: [unclosed\n', 'agent.yaml')).toThrow(/agent\.yaml:\d+:/);
    expect(() => parseAgentConfig('telemetry:\n  profile: satellite\n', 'agent.yaml')).toThrow(/telemetry\.profile/);
  });

  it('refuses a scrub rule whose regex does not compile, naming the rule', () => {
    expect(() => parseAgentConfig('telemetry:\n  logs:\n    scrub:\n      rules: [{ name: broken, pattern: "([a-z" }]\n')).toThrow(/broken/);
  });

  it('reads sizes with units and refuses nonsense', () => {
    expect(parseSize('64MiB', 'size')).toBe(64 * 1024 * 1024);
    expect(parseSize('500 MB', 'size')).toBe(500e6);
    expect(parseSize('1GiB', 'size')).toBe(1024 ** 3);
    expect(() => parseSize('lots', '--telemetry-queue-size')).toThrow(/--telemetry-queue-size "lots" is not a size/);
    expect(() => parseSize('1KiB', '--telemetry-queue-size')).toThrow(/at least 64KiB/);
  });
});
