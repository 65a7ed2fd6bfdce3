import { describe, expect, it } from 'vitest';
import { FIRSTRUN_CMDLINE, parseMbr, withFirstrun } from '../../src/commands/provision-image.js';

/** A 512-byte MBR with the given entries (type, first sector, sectors). */
function mbr(entries: [number, number, number][], signature = true): Uint8Array {
  const sector = new Uint8Array(512);
  const view = new DataView(sector.buffer);
  for (const [i, [type, start, count]] of entries.entries()) {
    sector[446 + i * 16 + 4] = type;
    view.setUint32(446 + i * 16 + 8, start, true);
    view.setUint32(446 + i * 16 + 12, count, true);
  }
  if (signature) {
    sector[510] = 0x55;
    sector[511] = 0xaa;
  }
  return sector;
}

describe('parseMbr', () => {
  it('reads the partitions of a Raspberry Pi OS layout (FAT32 LBA boot, then Linux root)', () => {
    expect(
      parseMbr(
        mbr([
          [0x0c, 8192, 1048576],
          [0x83, 1056768, 4000000],
        ]),
      ),
    ).toEqual([
      { index: 1, type: 0x0c, offset: 8192 * 512, size: 1048576 * 512 },
      { index: 2, type: 0x83, offset: 1056768 * 512, size: 4000000 * 512 },
    ]);
  });
  it('refuses a sector without the MBR signature, and a GPT protective MBR', () => {
    expect(() => parseMbr(mbr([[0x0c, 1, 1]], false))).toThrow(/no MBR partition table/);
    expect(() => parseMbr(mbr([[0xee, 1, 100]]))).toThrow(/GPT/);
  });
});

describe('withFirstrun', () => {
  it('appends the firstrun entry to the one-line kernel command line, once', () => {
    const once = withFirstrun('console=serial0,115200 root=PARTUUID=abc rootwait\n');
    expect(once).toBe(`console=serial0,115200 root=PARTUUID=abc rootwait ${FIRSTRUN_CMDLINE}\n`);
    expect(withFirstrun(once)).toBe(once);
  });
});
