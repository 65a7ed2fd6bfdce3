import { describe, expect, it } from 'vitest';
import { SseParser } from '../src/sse.js';

describe('server-sent events parser', () => {
  it('parses named events with JSON data and skips heartbeat comments', () => {
    const p = new SseParser();
    const out = p.push('retry: 2000\nevent: hello\ndata: {"a":1}\n\n: heartbeat\n\nevent: nodes\ndata: {"upserted":[],"deleted":["x"]}\n\n');
    expect(out.retryMs).toBe(2000);
    expect(out.messages).toEqual([
      { event: 'hello', data: '{"a":1}' },
      { event: 'nodes', data: '{"upserted":[],"deleted":["x"]}' },
    ]);
  });

  it('reassembles events split across chunks at any byte, including between CR and LF', () => {
    const text = 'event: rollouts\r\ndata: {"x":"y"}\r\n\r\nevent: alerts\rdata: 1\r\r';
    for (let cut = 1; cut < text.length; cut++) {
      const p = new SseParser();
      const got = [...p.push(text.slice(0, cut)).messages, ...p.push(text.slice(cut)).messages];
      expect(got, `cut at ${cut}`).toEqual([
        { event: 'rollouts', data: '{"x":"y"}' },
        { event: 'alerts', data: '1' },
      ]);
    }
  });

  it('joins multi-line data, defaults the event name, and drops events without data', () => {
    const p = new SseParser();
    expect(p.push('data: a\ndata: b\n\nevent: empty\n\nid: 7\ndata:c\n\n').messages).toEqual([
      { event: 'message', data: 'a\nb' },
      { event: 'message', data: 'c', id: '7' },
    ]);
  });

  it('holds an unfinished event until its blank line arrives', () => {
    const p = new SseParser();
    expect(p.push('event: nodes\ndata: {}\n').messages).toEqual([]);
    expect(p.push('\n').messages).toEqual([{ event: 'nodes', data: '{}' }]);
  });
});
