import { type FileHandle, open } from 'node:fs/promises';
import { type ArtifactInfo, type EdgefleetError, errors } from '@edgefleet/protocol';
import type { Command } from 'commander';
import { type ConnectionFlags, clientFrom } from '../connection.js';
import { type Column, outputFormat, printData, renderTable } from '../output.js';

const UNITS = ['KiB', 'MiB', 'GiB', 'TiB'];

/** `512 B`, `1.5 KiB`, `3.0 MiB`, `12 GiB`: binary units, as model sizes are quoted. */
export function humanSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  let value = bytes;
  let unit = 'B';
  for (const u of UNITS) {
    if (value < 1024) break;
    value /= 1024;
    unit = u;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${unit}`;
}

/** Table columns of `artifact list`, as data. */
const ARTIFACT_COLUMNS: Column<ArtifactInfo>[] = [
  { header: 'DIGEST', cell: (a) => a.digest },
  { header: 'SIZE', cell: (a) => humanSize(a.size) },
  { header: 'CREATED', cell: (a) => a.createdAt },
];

/** Opens a regular file for reading, or fails with an error that names it. */
async function openFile(path: string): Promise<{ file: FileHandle; size: number }> {
  const unreadable = (why: string): EdgefleetError =>
    errors.config(`cannot read ${path}: ${why}`, 'check the path of the file to push, and that you may read it');
  let file: FileHandle;
  try {
    file = await open(path, 'r');
  } catch (err) {
    throw unreadable((err as NodeJS.ErrnoException).code ?? (err as Error).message);
  }
  const stat = await file.stat();
  if (!stat.isFile()) {
    await file.close();
    throw unreadable(stat.isDirectory() ? 'it is a directory' : 'it is not a regular file');
  }
  return { file, size: stat.size };
}

/** `edgefleet artifact …`: the server's content-addressed store of models. */
export function artifactCommands(program: Command): void {
  const artifact = program.command('artifact').description('model files in the server’s content-addressed store');
  artifact
    .command('push <file>')
    .description('upload a file; prints its digest (sha256:…), computed by the server')
    .option('-o, --output <format>', 'text or json', 'text')
    .action(async (path: string, opts: { output: string } & ConnectionFlags) => {
      const format = outputFormat(opts.output === 'text' ? 'table' : opts.output, ['table', 'json'], 'table');
      const client = clientFrom(opts);
      const { file, size } = await openFile(path);
      // The stream owns the handle from here and closes it when it ends or is destroyed.
      const stream = file.createReadStream();
      let pushed: ArtifactInfo;
      try {
        pushed = await client.pushArtifact(stream, size);
      } finally {
        stream.destroy();
      }
      if (pushed.size !== size) {
        throw errors.internal(`the server stored ${pushed.size} bytes of ${path}, which has ${size}`, 'the file changed while it was pushed; push it again');
      }
      if (format === 'json') return printData({ digest: pushed.digest, size: pushed.size }, 'json');
      // The digest alone on stdout, so `DIGEST=$(edgefleet artifact push model.onnx)` works.
      process.stdout.write(`${pushed.digest}\n`);
      process.stderr.write(`pushed ${path} (${humanSize(pushed.size)})\n`);
    });
  artifact
    .command('list')
    .description('list stored artifacts')
    .option('-o, --output <format>', 'table, json or yaml', 'table')
    .action(async (opts: { output: string } & ConnectionFlags) => {
      const format = outputFormat(opts.output, ['table', 'json', 'yaml'], 'table');
      const items = await clientFrom(opts).listArtifacts();
      if (format !== 'table') return printData({ items }, format);
      if (items.length === 0) {
        process.stderr.write('No artifacts yet. Upload one with "edgefleet artifact push FILE".\n');
        return;
      }
      process.stdout.write(`${renderTable(items, ARTIFACT_COLUMNS)}\n`);
    });
}
