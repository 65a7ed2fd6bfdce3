// `npm run bench -- NAME [flags]` runs bench/NAME.ts from the TypeScript sources.
const [name, ...rest] = process.argv.slice(2);
if (!name) {
  console.error('usage: npm run bench -- NAME [flags]   (NAME: a file in bench/ without .ts, e.g. enrollment)');
  process.exit(2);
}
process.argv = [process.argv[0], name, ...rest];
await import(`./${name}.ts`);
