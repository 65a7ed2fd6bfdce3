import type { Platform } from './types.js';

/** A platform split into its parts; `variant` is undefined when none was written. */
export interface PlatformParts {
  os: string;
  architecture: string;
  variant: string | undefined;
}

/** The platform entry of an image index's manifest descriptor (OCI image index spec). */
export interface IndexPlatform {
  os?: string;
  architecture?: string;
  variant?: string;
}

/**
 * The variant a platform has when none is written: `arm64` images are `v8` unless they
 * say otherwise (containerd's and podman's rule), so `linux/arm64` and `linux/arm64/v8`
 * are the same platform. Other architectures have no implied variant.
 */
const DEFAULT_VARIANT: Record<string, string> = { arm64: 'v8' };

/**
 * Parses `os/architecture[/variant]`. Throws a plain Error naming the expected shape for
 * anything else (the platform comes from the agent's own settings, not from a registry).
 */
export function parsePlatform(platform: Platform): PlatformParts {
  const parts = platform.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[a-z0-9._-]+$/.test(p))) {
    throw new Error(`platform "${platform}" is not "os/architecture[/variant]", e.g. "linux/arm64" or "linux/arm/v7"`);
  }
  return { os: parts[0] as string, architecture: parts[1] as string, variant: parts[2] };
}

/** The platform written canonically, e.g. `linux/arm64/v8` stays, `linux/amd64` has no variant. */
export function formatPlatform(p: PlatformParts): Platform {
  return p.variant === undefined ? `${p.os}/${p.architecture}` : `${p.os}/${p.architecture}/${p.variant}`;
}

/** The platform this process runs on, as image indexes name it (`linux/arm64` on a 64-bit Pi). */
export function hostPlatform(arch: string = process.arch, os: string = process.platform): Platform {
  const architecture =
    ({ x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' } as Record<string, string>)[arch] ?? arch;
  // 32-bit Raspberry Pi OS runs ARMv7 userlands (Pi 2 and later); armv6 boards are out of scope.
  return architecture === 'arm' ? `${os}/arm/v7` : `${os}/${architecture}`;
}

/**
 * True when an index entry's platform can run on `wanted`: same OS and architecture, and
 * the same variant once implied variants are filled in (an entry without a variant
 * matches a request without one).
 */
export function platformMatches(entry: IndexPlatform | undefined, wanted: PlatformParts): boolean {
  if (entry === undefined || entry.os !== wanted.os || entry.architecture !== wanted.architecture) return false;
  const implied = DEFAULT_VARIANT[wanted.architecture];
  const entryVariant = entry.variant === undefined || entry.variant === '' ? implied : entry.variant;
  const wantedVariant = wanted.variant ?? implied;
  return entryVariant === wantedVariant;
}

/**
 * Picks the manifest for `platform` from an image index's entries: the first that matches
 * (index order is the publisher's preference). Undefined when the index has none, which
 * the store reports as `platform-unavailable`.
 */
export function selectPlatform<T extends { platform?: IndexPlatform }>(manifests: readonly T[], platform: Platform): T | undefined {
  const wanted = parsePlatform(platform);
  return manifests.find((m) => platformMatches(m.platform, wanted));
}
