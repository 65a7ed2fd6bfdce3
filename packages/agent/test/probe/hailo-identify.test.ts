import { describe, expect, it } from 'vitest';
import { parseHailoIdentify } from '../../src/probe/index.js';

const HAILORT_4_23 = `Executing on device: 0001:01:00.0
Identifying board
Control Protocol Version: 2
Firmware Version: 4.23.0 (release,app,extended context switch buffer)
Logger Version: 0
Board Name: Hailo-8
Device Architecture: HAILO8L
Serial Number: HLDDLBB243303522
Part Number: HM21LB1C2LAE
Product Name: HAILO-8L AI ACC M.2 B+M KEY MODULE EXT TMP
`;

describe('parseHailoIdentify', () => {
  it.each([
    [
      'HailoRT 4.23 output (HARDWARE.md)',
      HAILORT_4_23,
      [{ location: '0001:01:00.0', architecture: 'HAILO8L', serial: 'HLDDLBB243303522', firmwareVersion: '4.23.0' }],
    ],
    [
      'HailoRT 4.x `<N/A>` fields',
      'Executing on device: 0001:01:00.0\nFirmware Version: 4.20.1 (release,app)\nDevice Architecture: HAILO10H\nSerial Number: <N/A>\nPart Number: <N/A>\n',
      [{ location: '0001:01:00.0', architecture: 'HAILO10H', firmwareVersion: '4.20.1' }],
    ],
    [
      'HailoRT 5.x omitted fields',
      'Executing on device: 0001:01:00.0\nDevice Architecture: HAILO10H\n',
      [{ location: '0001:01:00.0', architecture: 'HAILO10H' }],
    ],
    ['CRLF line ends and no device line', 'Device Architecture: hailo8\r\nSerial Number: X1\r\n', [{ architecture: 'HAILO8', serial: 'X1' }]],
    [
      'two devices',
      `${HAILORT_4_23}\n${HAILORT_4_23.replace('0001:01', '0001:02').replace('HAILO8L', 'HAILO8')}`,
      [
        { location: '0001:01:00.0', architecture: 'HAILO8L', serial: 'HLDDLBB243303522', firmwareVersion: '4.23.0' },
        { location: '0001:02:00.0', architecture: 'HAILO8', serial: 'HLDDLBB243303522', firmwareVersion: '4.23.0' },
      ],
    ],
    ['the no-driver error', '[HailoRT] [error] CHECK_SUCCESS failed with status=HAILO_PCIE_DRIVER_NOT_INSTALLED(64)\n', []],
    ['an empty file', '', []],
    ['garbage values', 'Device Architecture: <script>\nSerial Number: has spaces in it\nFirmware Version: latest\n', []],
  ])('%s', (_name, text, expected) => {
    expect(parseHailoIdentify(text)).toEqual(expected);
  });
});
