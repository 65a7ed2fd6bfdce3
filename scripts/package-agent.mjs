#!/usr/bin/env node
// `npm run package:agent`: the agent as one bundled file and a Debian package,
// dist/edgefleet-agent_<version>_all.deb (layout in docs/ARCHITECTURE.md, "The agent as a
// system service").
//
//   node scripts/package-agent.mjs [--version V] [--out DIR] [--without-onnxruntime] [--compression xz|gzip|none]
//
// - dist/bundle/agent.js: `edgefleet agent` and everything it imports (packaging/agent-main.ts),
//   ES modules for Node 20, split where the agent imports lazily (agent-*.js beside it: the
//   kubelet device plugin is read only when it runs); dist/bundle/main.js: the model server the agent starts as a
//   child process for model releases (it must sit beside agent.js: model-server/entry.ts).
// - onnxruntime-node is native: it stays out of the bundles and is copied into
//   /usr/lib/edgefleet/node_modules with only its Linux arm64 and x64 binaries, unless
//   --without-onnxruntime (a package for process and container releases only; the model
//   server then fails to load, and the agent reports the release failed like any other).
// - yaml is copied beside them too: the agent loads it lazily, on the first config read,
//   so an idle agent without a config does not hold it (agent/src/config.ts).
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: flags } = parseArgs({
  options: {
    version: { type: 'string' },
    out: { type: 'string', default: join(repo, 'dist') },
    'without-onnxruntime': { type: 'boolean', default: false },
    compression: { type: 'string', default: 'xz' },
  },
});

const version = flags.version ?? JSON.parse(readFileSync(join(repo, 'packages/agent/package.json'), 'utf8')).version;
// Debian's version syntax (upstream part only): a digit first, then [A-Za-z0-9.+~-].
if (!/^[0-9][A-Za-z0-9.+~-]*$/.test(version)) {
  console.error(`error: --version "${version}" is not a Debian version\nhint: use something like 0.2.0 or 0.2.0~rc1`);
  process.exit(2);
}
if (!['xz', 'gzip', 'none'].includes(flags.compression)) {
  console.error(`error: --compression "${flags.compression}" is not xz, gzip or none`);
  process.exit(2);
}

const out = flags.out;
const bundleDir = join(out, 'bundle');
const stage = join(out, `edgefleet-agent_${version}_all`);
const deb = join(out, `edgefleet-agent_${version}_all.deb`);
rmSync(bundleDir, { recursive: true, force: true });
rmSync(stage, { recursive: true, force: true });

// 1. The bundles. Sources, not dist/ (the edgefleet:source condition): no tsc build needed.
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  conditions: ['edgefleet:source'],
  external: ['onnxruntime-node', 'yaml'],
  // CommonJS dependencies bundled into an ES module still call require() for Node builtins.
  banner: { js: "import { createRequire as __edgefleetRequire } from 'node:module'; const require = __edgefleetRequire(import.meta.url);" },
  legalComments: 'none',
  logLevel: 'warning',
};
// The agent imports the model server's module graph (for its types and entry path) but
// never runs inference itself: onnxruntime-node is swapped for a stub that says so, and
// the agent starts without the native module.
const noOnnxruntimeInAgent = {
  name: 'no-onnxruntime-in-agent',
  setup(b) {
    b.onResolve({ filter: /^onnxruntime-node$/ }, () => ({ path: 'onnxruntime-node', namespace: 'stub' }));
    b.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({
      contents:
        "const fail = () => { throw new Error('onnxruntime runs in the model server process (main.js), not in the agent'); };\n" +
        'export const InferenceSession = { create: fail };\nexport class Tensor { constructor() { fail(); } }\n',
      loader: 'js',
    }));
  },
};
// `edgefleet agent` imports the `@edgefleet/agent` index, which also carries the model server
// and helpers the agent process never uses; in the bundle it gets packaging/agent-exports.ts.
const agentExportsOnly = {
  name: 'agent-exports-only',
  setup(b) {
    b.onResolve({ filter: /^@edgefleet\/agent$/ }, () => ({ path: join(repo, 'packaging/agent-exports.ts') }));
  },
};
// Split at the dynamic imports: the kubelet device plugin (gRPC and protobufjs, ~0.9 MB,
// loaded only with --device-plugin) goes into a file of its own that an agent without it
// never reads. V8 keeps the source of every script it ran for the life of the process, so
// what is not read costs no memory. The chunks sit flat beside agent.js (model-server/
// entry.ts finds main.js relative to its own file, and yaml resolves from node_modules here).
await build({
  ...common,
  entryPoints: { agent: join(repo, 'packaging/agent-main.ts') },
  outdir: bundleDir,
  splitting: true,
  chunkNames: 'agent-[name]-[hash]',
  plugins: [noOnnxruntimeInAgent, agentExportsOnly],
  metafile: true,
}).then(({ metafile }) => {
  // The agent must start without the native module (process and container releases).
  const native = Object.keys(metafile.inputs).filter((input) => input.endsWith('.node'));
  if (native.length > 0) throw new Error(`the agent bundle pulls in native modules: ${native.join(', ')}`);
  // Nor does it carry the model server: that runs as main.js, a process of its own.
  const modelServer = Object.keys(metafile.inputs).filter((input) => /model-server\/(?!entry\.ts$)/.test(input));
  if (modelServer.length > 0) throw new Error(`the agent bundle pulls in the model server: ${modelServer.join(', ')}`);
});
await build({ ...common, entryPoints: [join(repo, 'packages/agent/src/model-server/main.ts')], outfile: join(bundleDir, 'main.js') });
for (const file of readdirSync(bundleDir).filter((f) => f.endsWith('.js'))) asciiOnly(join(bundleDir, file));
writeFileSync(join(bundleDir, 'package.json'), `${JSON.stringify({ name: 'edgefleet-agent-bundle', version, private: true, type: 'module' }, null, 2)}\n`);
copyModule('yaml', join(bundleDir, 'node_modules'));
if (!flags['without-onnxruntime']) {
  copyModule('onnxruntime-common', join(bundleDir, 'node_modules'));
  copyModule('onnxruntime-node', join(bundleDir, 'node_modules'), (path) => {
    // Only the Linux binaries a Pi (arm64) or a PC (x64) loads; no install scripts.
    const rel = relative(join(repo, 'node_modules/onnxruntime-node'), path);
    if (rel === 'script' || rel.startsWith('script/')) return false;
    const bin = rel.match(/^bin\/napi-v\d+\/([^/]+)(?:\/([^/]+))?/);
    if (bin === null) return true;
    return bin[1] === 'linux' && (bin[2] === undefined || bin[2] === 'arm64' || bin[2] === 'x64');
  });
}

// 2. The package tree.
const deb_ = join(repo, 'packaging/deb');
const put = (from, to, mode) => {
  const target = join(stage, to);
  mkdirSync(dirname(target), { recursive: true });
  cpSync(from, target, { recursive: true });
  chmodSync(target, mode);
};
put(bundleDir, 'usr/lib/edgefleet', 0o755);
put(join(deb_, 'scripts/hailo-identify'), 'usr/lib/edgefleet/hailo-identify', 0o755);
put(join(deb_, 'scripts/edgefleet-agent'), 'usr/bin/edgefleet-agent', 0o755);
for (const unit of ['edgefleet-agent.service', 'edgefleet-hailo-identify.service', 'edgefleet-hailo-identify.timer']) {
  put(join(deb_, 'systemd', unit), `lib/systemd/system/${unit}`, 0o644);
}
put(join(deb_, 'agent.yaml'), 'etc/edgefleet/agent.yaml', 0o644);
// The bootstrap token goes here (0700, the token 0600): root alone reads it.
mkdirSync(join(stage, 'etc/edgefleet/private'), { recursive: true });
chmodSync(join(stage, 'etc/edgefleet/private'), 0o700);
mkdirSync(join(stage, 'usr/share/doc/edgefleet-agent'), { recursive: true });
writeFileSync(join(stage, 'usr/share/doc/edgefleet-agent/copyright'), 'edgefleet\nLicense: Apache-2.0 (see /usr/share/common-licenses/Apache-2.0)\n');
writeFileSync(
  join(stage, 'usr/share/doc/edgefleet-agent/README'),
  'edgefleet node agent\n\nConfigure /etc/edgefleet/agent.yaml (server, tokenFile), then:\n  systemctl restart edgefleet-agent\n  journalctl -u edgefleet-agent\n\nSee docs/ARCHITECTURE.md, "The agent as a system service", in the edgefleet sources.\n',
);
normaliseModes(join(stage, 'usr'));

mkdirSync(join(stage, 'DEBIAN'), { recursive: true });
for (const script of ['postinst', 'prerm', 'postrm']) put(join(deb_, 'debian', script), `DEBIAN/${script}`, 0o755);
put(join(deb_, 'debian/conffiles'), 'DEBIAN/conffiles', 0o644);
const installedKiB = Math.ceil(treeBytes(stage) / 1024);
writeFileSync(
  join(stage, 'DEBIAN/control'),
  readFileSync(join(deb_, 'debian/control.in'), 'utf8').replace('@VERSION@', version).replace('@INSTALLED_SIZE@', String(installedKiB)),
);
chmodSync(join(stage, 'DEBIAN/control'), 0o644);

// 3. The .deb, owned by root:root whoever builds it.
execFileSync('dpkg-deb', ['--root-owner-group', `-Z${flags.compression}`, '--build', stage, deb], { stdio: ['ignore', 'ignore', 'inherit'] });
console.log(`${relative(process.cwd(), deb) || deb} (${(statSync(deb).size / 1024 / 1024).toFixed(1)} MiB, installed ${(installedKiB / 1024).toFixed(1)} MiB)`);

/**
 * Rewrites a bundle so that it is ASCII only. V8 keeps a script's source for the life of the
 * process, one byte per character if every character is Latin-1 and two bytes otherwise: a
 * single "—" in a comment made the 3.7 MB agent bundle cost 7.4 MB of heap (measured in
 * docs/BENCHMARKS.md, "Agent footprint from the packaged bundle"). esbuild already escapes
 * non-ASCII characters in strings, regular expressions and identifiers (its default
 * `charset: 'ascii'`) but copies the comments it keeps as they are; those are escaped here
 * (`\u2014`). A non-ASCII character anywhere but in a comment would change meaning if
 * escaped (a raw template), so the build stops and says where it is.
 */
function asciiOnly(path) {
  const lines = readFileSync(path, 'utf8').split('\n');
  let inBlock = false;
  const out = lines.map((line, i) => {
    // Where comments are on this line: after `//`, or inside `/* … */` (esbuild keeps JSDoc
    // blocks one per line, each line starting with `*` or `/**`).
    const trimmed = line.trimStart();
    const startsBlock = trimmed.startsWith('/*');
    const commentLine = inBlock || startsBlock || trimmed.startsWith('*') || trimmed.startsWith('//');
    if (startsBlock && !trimmed.includes('*/')) inBlock = true;
    else if (inBlock && line.includes('*/')) inBlock = false;
    if (!/[\u0080-\uffff]/.test(line)) return line;
    const firstNonAscii = line.search(/[\u0080-\uffff]/);
    const slashes = line.indexOf('//');
    if (!commentLine && !(slashes !== -1 && slashes < firstNonAscii)) {
      throw new Error(`${path}:${i + 1}: a non-ASCII character outside a comment: ${line.trim().slice(0, 120)}\nhint: write it as a \\u escape in the source`);
    }
    return line.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  });
  writeFileSync(path, out.join('\n'));
}

/** Copies an installed npm package (from the repository's node_modules) into `into`. */
function copyModule(name, into, filter = () => true) {
  const from = join(repo, 'node_modules', name);
  if (!existsSync(from)) throw new Error(`${name} is not installed in node_modules: run npm ci first`);
  cpSync(from, join(into, name), { recursive: true, filter, dereference: true });
}

/** Folders 0755, files 0644, executables (any x bit) 0755: what dpkg and lintian expect. */
function normaliseModes(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      chmodSync(path, 0o755);
      normaliseModes(path);
    } else if (entry.isFile()) {
      chmodSync(path, (statSync(path).mode & 0o111) === 0 ? 0o644 : 0o755);
    }
  }
}

function treeBytes(dir) {
  let bytes = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    bytes += entry.isDirectory() ? treeBytes(path) : statSync(path).size;
  }
  return bytes;
}
