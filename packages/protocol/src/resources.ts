/**
 * Workload resource limits as Kubernetes writes them: CPU in cores or millicores (`0.5`,
 * `500m`, `2`), memory in bytes with a binary or decimal suffix (`256Mi`, `1Gi`, `500M`).
 */

/** Millicores from `"500m"`, `"1.5"` or `2`; throws on anything else. */
export function parseCpu(value: string | number): number {
  const text = String(value).trim();
  const m = /^(\d+(?:\.\d+)?)(m?)$/.exec(text);
  if (m === null) throw new Error(`CPU "${text}" is not a number of cores ("1.5") or millicores ("500m")`);
  const milli = m[2] === 'm' ? Number(m[1]) : Number(m[1]) * 1000;
  if (!(milli >= 1)) throw new Error(`CPU "${text}" is below one millicore`);
  return Math.round(milli);
}

const MEMORY_UNITS: Record<string, number> = { '': 1, k: 1e3, M: 1e6, G: 1e9, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 };

/** Bytes from `"256Mi"`, `"1Gi"`, `"500M"` or a plain number of bytes; throws on anything else. */
export function parseMemory(value: string | number): number {
  const text = String(value).trim();
  const m = /^(\d+(?:\.\d+)?)(k|M|G|Ki|Mi|Gi)?$/.exec(text);
  if (m === null) throw new Error(`memory "${text}" is not a size such as 256Mi, 1Gi or 500M`);
  const bytes = Math.round(Number(m[1]) * (MEMORY_UNITS[m[2] ?? ''] ?? 1));
  if (bytes < 4 * 1024 * 1024) throw new Error(`memory "${text}" is below 4Mi, too little for any container`);
  return bytes;
}
