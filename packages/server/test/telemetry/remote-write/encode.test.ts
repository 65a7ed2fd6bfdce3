import { uncompress } from 'snappyjs';
import { describe, expect, it } from 'vitest';
import { decodeWriteRequest, encodeWriteRequest } from '../../../src/telemetry/remote-write/encode.js';
import type { PromSeries } from '../../../src/telemetry/remote-write/samples.js';

describe('the remote_write 1.0 body', () => {
  const series: PromSeries[] = [
    {
      labels: { site: 'depot', __name__: 'edgefleet_node_load1', node: 'pi-1' },
      samples: [
        { t: 1_767_225_600_123, v: 0.1 },
        { t: 1_767_225_540_000, v: Number.NaN },
      ],
    },
    { labels: { __name__: 'up', node: 'pi-2' }, samples: [{ t: 1_767_225_600_000, v: 1 }] },
  ];

  it('reads back as what was written, labels sorted by name and samples by time', () => {
    const decoded = decodeWriteRequest(encodeWriteRequest(series));
    expect(decoded).toHaveLength(2);
    expect(Object.keys(decoded[0]?.labels ?? {})).toEqual(['__name__', 'node', 'site']);
    expect(decoded[0]?.labels).toEqual(series[0]?.labels);
    expect(decoded[0]?.samples.map((s) => s.t)).toEqual([1_767_225_540_000, 1_767_225_600_123]);
    expect(decoded[0]?.samples[0]?.v).toBeNaN();
    expect(decoded[0]?.samples[1]?.v).toBe(0.1);
    expect(decoded[1]).toEqual(series[1]);
  });

  it('is snappy block format (not framed) around a WriteRequest whose field 1 holds the series', () => {
    const body = encodeWriteRequest(series);
    // The framed format starts with the stream identifier chunk 0xff 0x06 0x00 0x00 "sNaPpY".
    expect(body[0]).not.toBe(0xff);
    const proto = uncompress(body);
    // Tag of field 1 (timeseries), wire type 2 (length-delimited): 0x0a.
    expect(proto[0]).toBe(0x0a);
  });

  it('refuses a body that claims to inflate beyond the limit', () => {
    expect(() => decodeWriteRequest(encodeWriteRequest(series), 16)).toThrow();
  });
});
