/** Commander helper for repeatable options: `--label a=1 --label b=2`. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
