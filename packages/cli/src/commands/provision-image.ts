import { execFileSync } from 'node:child_process';
import { closeSync, copyFileSync, constants as fsConstants, openSync, readSync } from 'node:fs';
import { errors } from '@edgefleet/protocol';

/**
 * Writes files into the boot partition of a Raspberry Pi OS image without mounting it: the
 * MBR's partition table gives the FAT partition's offset, and mtools reads and writes the
 * file system at that offset (`mcopy -i IMAGE@@OFFSET`). No loop device, no root.
 */

/** MBR partition types of FAT file systems (FAT12, FAT16 <32M, FAT16, FAT32 CHS/LBA, FAT16 LBA). */
const FAT_TYPES = new Set([0x01, 0x04, 0x06, 0x0b, 0x0c, 0x0e]);

/** A partition of the image, from its MBR. */
export interface MbrPartition {
  index: number;
  type: number;
  /** Byte offset of its first sector. */
  offset: number;
  /** Size in bytes. */
  size: number;
}

/** The primary partitions of a 512-byte MBR sector (empty entries left out). */
export function parseMbr(sector: Uint8Array, image = 'the image'): MbrPartition[] {
  if (sector.length < 512 || sector[510] !== 0x55 || sector[511] !== 0xaa) {
    throw errors.config(
      `${image} has no MBR partition table (no 55 AA signature at byte 510)`,
      'give a Raspberry Pi OS image (.img, uncompressed: unxz it first)',
    );
  }
  const view = new DataView(sector.buffer, sector.byteOffset, sector.byteLength);
  const parts: MbrPartition[] = [];
  for (let i = 0; i < 4; i++) {
    const at = 446 + i * 16;
    const type = sector[at + 4] as number;
    const start = view.getUint32(at + 8, true);
    const sectors = view.getUint32(at + 12, true);
    if (type === 0 || sectors === 0) continue;
    // GPT images carry a protective MBR (type EE): say so rather than find no FAT.
    if (type === 0xee) throw errors.config(`${image} has a GPT partition table`, 'Raspberry Pi OS images use MBR; give one of those');
    parts.push({ index: i + 1, type, offset: start * 512, size: sectors * 512 });
  }
  return parts;
}

/** The boot partition: the first FAT partition of the image's MBR. */
export function bootPartition(imagePath: string): MbrPartition {
  const sector = new Uint8Array(512);
  const fd = openSync(imagePath, 'r');
  try {
    if (readSync(fd, sector, 0, 512, 0) < 512) throw errors.config(`${imagePath} is shorter than one sector`, 'give a Raspberry Pi OS image');
  } finally {
    closeSync(fd);
  }
  const fat = parseMbr(sector, imagePath).find((p) => FAT_TYPES.has(p.type));
  if (fat === undefined)
    throw errors.config(`${imagePath} has no FAT partition in its MBR`, 'give a Raspberry Pi OS image: its first partition is the FAT boot partition');
  return fat;
}

/** Runs an mtools command on the image's boot partition; a missing mtools is a clear error. */
function mtools(cmd: string, args: string[], input?: string): string {
  try {
    return execFileSync(cmd, args, {
      encoding: 'utf8',
      input,
      // mtools refuses file systems whose geometry it finds odd; a Pi image's is fine.
      env: { ...process.env, MTOOLS_SKIP_CHECK: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw errors.config(`${cmd} is not installed`, 'install mtools (apt-get install mtools)');
    throw errors.config(`${cmd} ${args.join(' ')} failed: ${(e.stderr ?? e.message).trim()}`, 'check that the image is a Raspberry Pi OS image and not in use');
  }
}

/** An image's boot partition, addressed the mtools way (`IMAGE@@OFFSET`). */
export class BootPartition {
  private readonly target: string;

  constructor(readonly image: string) {
    this.target = `${image}@@${bootPartition(image).offset}`;
  }

  /** Copies a local file onto the partition's root as `name`, replacing one there. */
  put(localPath: string, name: string): void {
    mtools('mcopy', ['-o', '-i', this.target, localPath, `::/${name}`]);
  }

  /** A file's text from the partition's root, or undefined when it is not there. */
  read(name: string): string | undefined {
    const listed = mtools('mdir', ['-b', '-i', this.target, '::/']);
    if (!listed.split('\n').some((l) => l.trim().toLowerCase() === `::/${name.toLowerCase()}`)) return undefined;
    return mtools('mtype', ['-i', this.target, `::/${name}`]);
  }

  /** The names on the partition's root. */
  list(): string[] {
    return mtools('mdir', ['-b', '-i', this.target, '::/'])
      .split('\n')
      .map((l) => l.trim().replace(/^::\//, ''))
      .filter((l) => l !== '');
  }
}

/** Copies a base image (a reflink copy where the file system can). */
export function copyImage(base: string, to: string): void {
  copyFileSync(base, to, fsConstants.COPYFILE_FICLONE);
}

/** What a Bookworm cmdline.txt gets so the kernel's first boot runs firstrun.sh (Raspberry Pi Imager's words). */
export const FIRSTRUN_CMDLINE = 'systemd.run=/boot/firmware/firstrun.sh systemd.run_success_action=reboot systemd.unit=kernel-command-line.target';

/** cmdline.txt with the firstrun entry appended once (the kernel command line is one line). */
export function withFirstrun(cmdline: string): string {
  const line = cmdline.replace(/\s+$/, '');
  return line.includes('systemd.run=') ? `${line}\n` : `${line} ${FIRSTRUN_CMDLINE}\n`;
}
