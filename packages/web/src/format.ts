/** How numbers, times and digests read on the dashboard. Pure, locale-independent where it matters. */

/** "just now", "12 s ago", "5 min ago", "3 h ago", "2 d ago"; "never" for null. */
export function ago(ms: number | null, now: number): string {
  if (ms === null) return 'never';
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 2) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86_400)} d ago`;
}

/** A timestamp as "2025-06-01 14:03:22" in the browser's time zone. */
export function dateTime(value: string | number): string {
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** "sha256:3f1c…9a2b" — enough to tell digests apart; the full one goes in a title. */
export function shortDigest(digest: string | null | undefined): string {
  if (digest === null || digest === undefined) return '—';
  const hex = digest.startsWith('sha256:') ? digest.slice(7) : digest;
  return hex.length <= 16 ? digest : `sha256:${hex.slice(0, 8)}…${hex.slice(-4)}`;
}

/** Milliseconds with sensible precision: "0.42 ms", "12.3 ms", "1,250 ms". */
export function ms(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  if (value < 1) return `${value.toFixed(2)} ms`;
  if (value < 100) return `${value.toFixed(1)} ms`;
  return `${Math.round(value).toLocaleString('en')} ms`;
}

/** A ratio as a percentage: "1.5 %". */
export function percent(value: number | null | undefined, digits = 1): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  return `${(value * 100).toFixed(digits)} %`;
}

/** Degrees Celsius, one decimal. */
export function celsius(value: number | null): string {
  return value === null ? '—' : `${value.toFixed(1)} °C`;
}

/** Bytes in binary units: "512 B", "3.2 MiB". */
export function bytes(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = value;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** "1 node", "3 nodes". */
export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n.toLocaleString('en')} ${n === 1 ? word : many}`;
}

/** An audit entry's details as `key=value` pairs, long ids shortened (the full text goes in a title). */
export function details(d: Record<string, unknown>): string {
  return Object.entries(d)
    .map(([k, v]) => {
      const text = typeof v === 'string' ? v : JSON.stringify(v);
      return `${k}=${text.length > 28 ? `${text.slice(0, 16)}…` : text}`;
    })
    .join(' ');
}
