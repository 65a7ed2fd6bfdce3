import { describe, expect, it } from 'vitest';
import { detectLevel, levelFromValue, StreamLevels } from '../../../src/telemetry/logs/level.js';

describe('detectLevel', () => {
  it.each([
    // JSON lines: names, pino numbers, syslog severities
    ['{"level":30,"msg":"ready"}', 'info'],
    ['{"level":40,"msg":"slow"}', 'warn'],
    ['{"level":50,"msg":"failed"}', 'error'],
    ['{"level":60,"msg":"fatal"}', 'error'],
    ['{"level":20,"msg":"tick"}', 'debug'],
    ['{"level":"WARNING","msg":"x"}', 'warn'],
    ['{"severity":"ERROR","message":"x"}', 'error'],
    ['{"severity":4,"message":"x"}', 'warn'],
    ['{"lvl":"dbug?","msg":"unknown name, no keyword"}', 'info'],
    ['{"lvl":"debug","msg":"an error word in the text does not win over the field"}', 'debug'],
    ['{"levelname":"CRITICAL","name":"uvicorn"}', 'error'],
    ['{"log":{"level":"warn"},"message":"ecs"}', 'warn'],
    // keywords
    ['[2024-01-15 12:00:00 +0000] [1] [INFO] Booting worker with pid: 7', 'info'],
    ['[2024-01-15 12:05:00 +0000] [1] [CRITICAL] WORKER TIMEOUT (pid:7)', 'error'],
    ['WARNING:root:accelerator not found, using CPU', 'warn'],
    ['2024/01/15 12:00:00 [error] 7#7: *1 connect() failed (111: Connection refused)', 'error'],
    ['ts=2024-01-15T12:00:00Z level=warn msg="queue 85% full"', 'warn'],
    ['DEBUG tensor shapes (1, 3, 224, 224)', 'debug'],
    ['INFO request failed with ValueError, retrying', 'info'],
    ['error: could not open /dev/hailo0', 'error'],
    // tracebacks and exceptions
    ['Traceback (most recent call last):', 'error'],
    ['ValueError: shapes (1,3) and (4,) not aligned', 'error'],
    ['java.lang.IllegalStateException: model not loaded', 'error'],
    // nothing stated: info, on stderr too
    ['loading model yolov8n.onnx (6.2 MB)', 'info'],
    ['100%|██████████| 80/80 [00:02<00:00, 35.1it/s]', 'info'],
    ['0 errors, 3 images processed', 'info'],
  ])('%s → %s', (line, level) => {
    expect(detectLevel(line)).toBe(level);
  });

  it('maps level values of every common spelling', () => {
    expect(levelFromValue('Warning')).toBe('warn');
    expect(levelFromValue('40')).toBe('warn');
    expect(levelFromValue(3, 'syslog')).toBe('error');
    expect(levelFromValue(7, 'syslog')).toBe('debug');
    expect(levelFromValue({})).toBeUndefined();
  });
});

describe('StreamLevels', () => {
  it('keeps a traceback an error from its header to its last line', () => {
    const levels = new StreamLevels();
    const traceback = [
      'Traceback (most recent call last):',
      '  File "/app/server.py", line 42, in predict',
      '    out = session.run(None, {"input": x})',
      '  File "/usr/lib/python3/dist-packages/onnxruntime/capi/session.py", line 220, in run',
      '    return self._sess.run(output_names, input_feed, run_options)',
      'onnxruntime.capi.onnxruntime_pybind11_state.InvalidArgument: [ONNXRuntimeError] : 2 : INVALID_ARGUMENT',
    ];
    expect(traceback.map((l) => levels.detect(l))).toEqual(traceback.map(() => 'error'));
    // The next unindented line stands on its own again.
    expect(levels.detect('serving on :8000')).toBe('info');
  });

  it('carries a Java stack trace and its "Caused by:" along, but not after an info line', () => {
    const levels = new StreamLevels();
    expect(levels.detect('ERROR inference failed')).toBe('error');
    expect(levels.detect('\tat com.example.Model.run(Model.java:42)')).toBe('error');
    expect(levels.detect('Caused by: java.io.IOException: device gone')).toBe('error');
    expect(levels.detect('\t... 3 more')).toBe('error');
    expect(levels.detect('model reloaded')).toBe('info');
    expect(levels.detect('   indented info after info')).toBe('info');
  });
});
