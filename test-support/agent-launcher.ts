import { readFileSync } from 'node:fs';

/**
 * How packaging/deb/scripts/edgefleet-agent (installed as /usr/bin/edgefleet-agent, which the
 * unit's ExecStart= runs) starts the agent: the `export NAME=value` lines before its
 * `exec /usr/bin/node FLAGS /usr/lib/edgefleet/agent.js "$@"`. bench:agent --bundle and the
 * packaging test start the bundle with exactly these, so what they measure and test is what
 * a node runs.
 */
export interface AgentLauncher {
  /** Node and V8 flags placed before agent.js. */
  nodeFlags: string[];
  /** Environment the launcher exports (e.g. MALLOC_ARENA_MAX). */
  env: Record<string, string>;
}

export function readAgentLauncher(path: string): AgentLauncher {
  const text = readFileSync(path, 'utf8');
  const line = /^exec \/usr\/bin\/node (.*)\/usr\/lib\/edgefleet\/agent\.js "\$@"$/m.exec(text);
  if (line === null) throw new Error(`${path} has no \`exec /usr/bin/node … /usr/lib/edgefleet/agent.js "$@"\` line`);
  const env: Record<string, string> = {};
  for (const m of text.matchAll(/^export ([A-Z_][A-Z0-9_]*)=(\S*)$/gm)) env[m[1] as string] = m[2] as string;
  return { nodeFlags: (line[1] as string).split(' ').filter((a) => a !== ''), env };
}
