import type { Release } from './manifest.js';

/**
 * Which environment variables a release may set for its workload (`release.env` and
 * `release.runtime.env`). A release of the built-in model server is data (a model), not
 * code; but the environment of a Node, Python or dynamically linked program can load code:
 * `NODE_OPTIONS=--require /tmp/x.js`, `LD_PRELOAD=/tmp/x.so`. So the names that make a
 * loader or a language runtime load or run something are refused, at apply time on the
 * server and again on the agent (a signed release is no exception: a leaked or misused
 * signing key must not turn a model release into code execution on every node).
 *
 * This is a deny list, documented in docs/SECURITY.md: a `process` release runs a program
 * of its author's choosing anyway, and its own variables (`MODEL_THRESHOLD`, `HAILO_…`)
 * must keep working.
 */

/** Names refused exactly. */
export const DENIED_ENV_NAMES: readonly string[] = [
  // Node.js
  'NODE_OPTIONS',
  'NODE_PATH',
  'NODE_REPL_EXTERNAL_MODULE',
  'NODE_EXTRA_CA_CERTS',
  'NODE_TLS_REJECT_UNAUTHORIZED',
  // Python
  'PYTHONPATH',
  'PYTHONSTARTUP',
  'PYTHONHOME',
  'PYTHONUSERBASE',
  'PYTHONINSPECT',
  'PYTHONBREAKPOINT',
  'PYTHONEXECUTABLE',
  'PYTHONWARNINGS',
  // Perl, Ruby, Java
  'PERL5LIB',
  'PERL5OPT',
  'PERLLIB',
  'PERL5DB',
  'RUBYLIB',
  'RUBYOPT',
  'JAVA_TOOL_OPTIONS',
  '_JAVA_OPTIONS',
  'JDK_JAVA_OPTIONS',
  'CLASSPATH',
  // Shells: files sourced or code evaluated at start
  'BASH_ENV',
  'ENV',
  'SHELLOPTS',
  'BASHOPTS',
  'PS4',
  'PROMPT_COMMAND',
  'IFS',
  // glibc: loaders, tunables and files it reads on the caller's word
  'GLIBC_TUNABLES',
  'GCONV_PATH',
  'LOCPATH',
  'NLSPATH',
  'HOSTALIASES',
  'RESOLV_HOST_CONF',
  'LOCALDOMAIN',
  'RES_OPTIONS',
  // What the agent sets for the workload (a release may not replace them)
  'EDGEFLEET_DEPLOYMENT',
  'EDGEFLEET_REVISION',
  'EDGEFLEET_MODEL_PATH',
  'EDGEFLEET_MODEL_NAME',
  'EDGEFLEET_MODEL_VERSION',
  'EDGEFLEET_HOST',
  'EDGEFLEET_PORT',
];

/** Name prefixes refused: the dynamic loaders' whole families, and bash's exported functions. */
export const DENIED_ENV_PREFIXES: readonly string[] = ['LD_', 'DYLD_', 'BASH_FUNC_'];

/** What a valid environment variable name looks like (as the manifest schema checks it). */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Why one variable name may not be set by a release, or undefined when it may. */
export function envNameProblem(name: string): string | undefined {
  if (!ENV_NAME.test(name)) return `"${name}" is not an environment variable name (letters, digits and "_", not starting with a digit)`;
  const upper = name.toUpperCase();
  if (upper.startsWith('EDGEFLEET_') && DENIED_ENV_NAMES.includes(upper)) return `${name} is reserved: the agent sets it for the workload`;
  if (DENIED_ENV_NAMES.includes(upper)) return `${name} can make the workload's runtime or loader run code of the release's choosing`;
  const prefix = DENIED_ENV_PREFIXES.find((p) => upper.startsWith(p));
  if (prefix !== undefined) return `${name} (${prefix}*) can make the dynamic loader load code of the release's choosing`;
  return undefined;
}

/** A refused variable of a release: which field holds it and why. */
export interface ReleaseEnvProblem {
  /** Path of the variable inside the release: `env.NODE_OPTIONS` or `runtime.env.LD_PRELOAD`. */
  field: string;
  message: string;
}

/** The first variable a release may not set, or undefined when its environment is acceptable. */
export function releaseEnvProblem(release: Pick<Release, 'env' | 'runtime'>): ReleaseEnvProblem | undefined {
  for (const [where, env] of [
    ['env', release.env],
    ['runtime.env', release.runtime?.env],
  ] as const) {
    for (const name of Object.keys(env ?? {})) {
      const problem = envNameProblem(name);
      if (problem !== undefined) return { field: `${where}.${name}`, message: problem };
    }
  }
  return undefined;
}

/** The hint that goes with a refused variable. */
export const RELEASE_ENV_HINT =
  'remove it from the release: loader and runtime variables (NODE_OPTIONS, LD_*, PYTHONPATH, …) are refused, see docs/SECURITY.md; put settings in variables of your own';
