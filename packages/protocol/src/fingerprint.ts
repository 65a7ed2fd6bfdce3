/** Formats a hex fingerprint for people: `sha256:ab12…` (the form the server prints). */
export function displayFingerprint(hex: string): string {
  return `sha256:${hex}`;
}
