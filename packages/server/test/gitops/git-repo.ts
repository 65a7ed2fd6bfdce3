import * as fs from 'node:fs';
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as git from 'isomorphic-git';

/**
 * A throwaway git repository built with isomorphic-git itself (no `git` binary): a
 * normal working repository, or a bare one whose commits are made from a separate work
 * folder. Commits have a fixed author and increasing times, so runs are reproducible.
 */
export class TestRepo {
  private commits = 0;

  private constructor(
    /** What a source's `--git` names: the working folder, or the bare git dir. */
    readonly url: string,
    private readonly work: string,
    private readonly gitdir: string,
    private readonly root: string,
  ) {}

  static async create(opts: { bare?: boolean; branch?: string } = {}): Promise<TestRepo> {
    const root = mkdtempSync(join(tmpdir(), 'edgefleet-git-'));
    const branch = opts.branch ?? 'main';
    if (opts.bare === true) {
      const gitdir = join(root, 'fleet.git');
      const work = join(root, 'work');
      mkdirSync(work);
      await git.init({ fs, gitdir, bare: true, defaultBranch: branch });
      return new TestRepo(gitdir, work, gitdir, root);
    }
    const work = join(root, 'fleet');
    mkdirSync(work);
    await git.init({ fs, dir: work, defaultBranch: branch });
    return new TestRepo(work, work, join(work, '.git'), root);
  }

  /** Writes (string) or deletes (null) files, stages them and commits; returns the commit id. */
  async commit(files: Record<string, string | null>, message = 'update fleet'): Promise<string> {
    for (const [path, content] of Object.entries(files)) {
      const full = join(this.work, path);
      if (content === null) {
        unlinkSync(full);
        await git.remove({ fs, dir: this.work, gitdir: this.gitdir, filepath: path });
      } else {
        mkdirSync(dirname(full), { recursive: true });
        writeFileSync(full, content);
        await git.add({ fs, dir: this.work, gitdir: this.gitdir, filepath: path });
      }
    }
    this.commits++;
    return git.commit({
      fs,
      dir: this.work,
      gitdir: this.gitdir,
      message,
      author: { name: 'Fleet Bot', email: 'bot@fleet.example', timestamp: 1_700_000_000 + this.commits * 60, timezoneOffset: 0 },
    });
  }

  /** Points `branch` at `oid` (a force-push, as far as the poller can tell). */
  async resetBranch(branch: string, oid: string): Promise<void> {
    await git.writeRef({ fs, gitdir: this.gitdir, ref: `refs/heads/${branch}`, value: oid, force: true });
  }

  remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** A Deployment manifest as YAML, the way people write them. */
export function deploymentYaml(name: string, version: string, artifact: string, extra = ''): string {
  return [
    'apiVersion: edgefleet.dev/v1',
    'kind: Deployment',
    'metadata:',
    `  name: ${name}`,
    'spec:',
    '  selector: "hardware.ai-hat=true"',
    '  release:',
    `    version: "${version}"`,
    '    model:',
    `      artifact: ${artifact}`,
    '      format: onnx',
    extra,
  ]
    .filter((l) => l !== '')
    .join('\n')
    .concat('\n');
}
