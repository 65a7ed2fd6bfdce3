import { describe, expect, it } from 'vitest';
import { renderExposition } from '../../../src/telemetry/metrics/exposition.js';
import { MetricsRegistry } from '../../../src/telemetry/metrics/registry.js';
import { ContainerMetrics } from '../../../src/workloads/container/metrics.js';

describe('container metrics', () => {
  it('publishes CPU, memory and held devices per deployment and revision, and drops containers that are gone', () => {
    const registry = new MetricsRegistry();
    const metrics = new ContainerMetrics(registry);
    const running = [{ deployment: 'detect', revision: 2, name: 'c2', devices: ['/dev/hailo0'] }];
    metrics.sample(running, new Map([['c2', { cpuSeconds: 1.5, memoryBytes: 4096, memoryLimitBytes: 67108864 }]]));
    metrics.sample(running, new Map([['c2', { cpuSeconds: 2.5, memoryBytes: 8192, memoryLimitBytes: 67108864 }]]));
    let text = renderExposition(registry);
    expect(text).toContain('container_cpu_usage_seconds_total{deployment="detect",revision="2"} 2.5');
    expect(text).toContain('container_memory_working_set_bytes{deployment="detect",revision="2"} 8192');
    expect(text).toContain('container_spec_memory_limit_bytes{deployment="detect",revision="2"} 67108864');
    expect(text).toContain('edgefleet_container_device_held{deployment="detect",revision="2",device="/dev/hailo0"} 1');

    metrics.sample(
      [{ deployment: 'detect', revision: 3, name: 'c3', devices: [] }],
      new Map([['c3', { cpuSeconds: 0.1, memoryBytes: 1024, memoryLimitBytes: 0 }]]),
    );
    text = renderExposition(registry);
    expect(text).not.toContain('revision="2"');
    expect(text).toContain('container_memory_working_set_bytes{deployment="detect",revision="3"} 1024');
    expect(text).not.toContain('edgefleet_container_device_held{');
  });
});
