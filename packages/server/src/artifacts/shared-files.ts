/**
 * One open file per blob, shared by every download of it in flight. A release sends the
 * same artifact to every node it reaches at once; with a file opened per download, 7,500
 * nodes fetching revision 1 together held thousands of descriptors beside the fleet's
 * connections, the server ran out ("EMFILE: too many open files", 2,084 failed downloads in
 * bench:fleet, issue 18) and new connections, heartbeats among them, failed with it. Blobs
 * never change once stored, and reads are positional (each stream keeps its own offset), so
 * readers share one descriptor without disturbing each other; the last one to finish closes it.
 */
import { close, fstat, open, read, type Stats } from 'node:fs';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';

const openFile = promisify(open);
const closeFile = promisify(close);
const statFile = promisify(fstat);

/** One reader's hold on a shared file; give it back with `stream()`'s end or `release()`, once. */
export interface SharedFile {
  /** The file's size and times, read once when it was opened. */
  readonly stats: Stats;
  /** Streams bytes `start..end` (inclusive) and gives the hold back when the stream closes. Call at most once. */
  stream(range?: { start: number; end: number }): Readable;
  /** Gives the hold back without reading (HEAD, 304, 416). */
  release(): void;
}

interface Open {
  /** The descriptor and its stats, once opened. */
  opening: Promise<{ fd: number; stats: Stats }>;
  /** Readers holding the file, counted from the moment they asked (before it is open). */
  holds: number;
}

/** The files open for reading, by path, each with how many readers hold it. */
export class SharedFiles {
  private readonly files = new Map<string, Open>();

  /** How many files are open (or opening) now, for tests and diagnostics. */
  get openCount(): number {
    return this.files.size;
  }

  /** Opens `path` for reading, or joins the readers of the file already open; rejects as `open` does (ENOENT …). */
  async acquire(path: string): Promise<SharedFile> {
    let file = this.files.get(path);
    if (file === undefined) {
      const created: Open = { opening: openShared(path), holds: 0 };
      this.files.set(path, created);
      // A failed open is forgotten at once: the next reader tries again (its readers all get the error).
      created.opening.catch(() => {
        if (this.files.get(path) === created) this.files.delete(path);
      });
      file = created;
    }
    // Counted before waiting: a reader finishing meanwhile must not close the file under this one.
    file.holds++;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      const f = file as Open;
      if (--f.holds > 0) return;
      // Forgotten before it is closed: a reader arriving now opens the file afresh.
      if (this.files.get(path) === f) this.files.delete(path);
      f.opening.then(({ fd }) => closeFile(fd)).catch(() => {});
    };
    let opened: { fd: number; stats: Stats };
    try {
      opened = await file.opening;
    } catch (err) {
      release();
      throw err;
    }
    const { fd, stats } = opened;
    return {
      stats,
      stream: (range) => new PositionalStream(fd, range?.start ?? 0, range?.end ?? stats.size - 1, release),
      release,
    };
  }
}

async function openShared(path: string): Promise<{ fd: number; stats: Stats }> {
  const fd = await openFile(path, 'r');
  try {
    return { fd, stats: await statFile(fd) };
  } catch (err) {
    await closeFile(fd).catch(() => {});
    throw err;
  }
}

/** Bytes read from the file at a time, as `fs.createReadStream` does. */
const CHUNK_BYTES = 64 * 1024;

/**
 * Streams bytes `start..end` (inclusive) of a shared descriptor with positional reads, and
 * calls `done` once when it is over — ended, failed or destroyed — after any read in flight
 * has returned. Not `fs.createReadStream({ fd })`: destroying one (an agent that went away
 * mid-download) closes the descriptor under every other reader, whatever `autoClose` says.
 */
class PositionalStream extends Readable {
  private reading = false;
  private afterRead: (() => void) | undefined;

  constructor(
    private readonly fd: number,
    private position: number,
    private readonly end: number,
    private readonly done: () => void,
  ) {
    super({ highWaterMark: CHUNK_BYTES });
  }

  override _read(size: number): void {
    const length = Math.min(Math.max(size, 1), CHUNK_BYTES, this.end + 1 - this.position);
    if (length <= 0) {
      this.push(null);
      return;
    }
    this.reading = true;
    read(this.fd, Buffer.allocUnsafe(length), 0, length, this.position, (err, bytes, buffer) => {
      this.reading = false;
      if (this.afterRead !== undefined) return this.afterRead();
      if (err !== null) return this.destroy(err);
      // Blobs never shrink; a short file would be a damaged store, not the end of the artifact.
      if (bytes === 0) return this.destroy(new Error(`the artifact file ended at byte ${this.position}, before byte ${this.end}`));
      this.position += bytes;
      this.push(buffer.subarray(0, bytes));
    });
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    const finish = (): void => {
      this.done();
      callback(err);
    };
    // The descriptor may close when this is given back: never while a read of it is in the thread pool.
    if (this.reading) this.afterRead = finish;
    else finish();
  }
}
