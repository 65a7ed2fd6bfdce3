import type { HardwareFacts } from '@edgefleet/protocol';
import { readLine } from './fs.js';

/**
 * Kernel machine names (`uname -m`) mapped to the architecture names Go, OCI images and
 * Kubernetes use (`kubernetes.io/arch`), so `cpu.arch` selects the right image variant.
 */
const ARCH_BY_KERNEL_ARCH: ReadonlyArray<readonly [RegExp, string]> = [
  [/^(aarch64|arm64|aarch64_be)$/, 'arm64'],
  [/^(x86_64|amd64)$/, 'amd64'],
  [/^arm/, 'arm'],
  [/^i[3-6]86$/, '386'],
  [/^riscv64$/, 'riscv64'],
  [/^ppc64le$/, 'ppc64le'],
  [/^s390x$/, 's390x'],
  [/^loongarch64$/, 'loong64'],
];

/** The `cpu.arch` value when the kernel architecture is missing or one we do not map. */
const UNKNOWN_ARCH = 'unknown';

/** Maps a kernel architecture (`aarch64`) to its Go/Kubernetes name (`arm64`). */
function goArch(kernelArch: string | null): string {
  if (kernelArch === null) return UNKNOWN_ARCH;
  for (const [pattern, arch] of ARCH_BY_KERNEL_ARCH) if (pattern.test(kernelArch)) return arch;
  return UNKNOWN_ARCH;
}

/** Reads the kernel architecture and counts the `processor` entries of /proc/cpuinfo. */
export async function readCpu(hwRoot: string, cpuinfo: string | null): Promise<HardwareFacts['cpu']> {
  const raw = await readLine(hwRoot, 'proc/sys/kernel/arch');
  const kernelArch = raw !== null && /^[A-Za-z0-9_]{1,32}$/.test(raw) ? raw : null;
  const cores = cpuinfo === null ? 0 : (cpuinfo.match(/^processor\s*:/gm) ?? []).length;
  return { arch: goArch(kernelArch), kernelArch, cores: cores > 0 ? cores : null };
}
