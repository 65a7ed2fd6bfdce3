/**
 * How the agent starts the model server as a child process, and the environment contract
 * between the two. Kept apart from server.ts so reading it loads no onnxruntime.
 */
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** A command line to hand to `child_process.spawn(command, args, { env })`. */
export interface ModelServerCommand {
  command: string;
  args: string[];
}

/**
 * The command that runs `main` as a child process. From TypeScript sources (tests, `tsx`)
 * it is Node with the tsx loader, resolved to an absolute URL here so the child finds it
 * whatever its working directory; from the build it is Node on `dist/.../main.js`.
 */
export function modelServerEntry(): ModelServerCommand {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    return { command: process.execPath, args: ['--import', tsxLoader(), fileURLToPath(new URL('./main.ts', here))] };
  }
  return { command: process.execPath, args: [fileURLToPath(new URL('./main.js', here))] };
}

function tsxLoader(): string {
  try {
    return pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  } catch {
    // Not resolvable from here: leave it to Node's lookup from the child's working directory.
    return 'tsx';
  }
}

/** What the child needs to serve one model; the agent sets it, `main` reads it. */
export interface ModelServerConfig {
  modelPath: string;
  modelName: string;
  modelVersion: string;
  host: string;
  /** 0 asks the OS for a free port; the child logs the one it got. */
  port: number;
}

/** The environment variables carrying a {@link ModelServerConfig} to the child. */
export function modelServerEnv(config: ModelServerConfig): Record<string, string> {
  return {
    EDGEFLEET_MODEL_PATH: config.modelPath,
    EDGEFLEET_MODEL_NAME: config.modelName,
    EDGEFLEET_MODEL_VERSION: config.modelVersion,
    EDGEFLEET_HOST: config.host,
    EDGEFLEET_PORT: String(config.port),
  };
}

/** Reads a {@link ModelServerConfig} from the environment, or says which variable is missing or wrong. */
export function modelServerConfigFromEnv(env: NodeJS.ProcessEnv): { ok: true; config: ModelServerConfig } | { ok: false; error: string } {
  const modelPath = env.EDGEFLEET_MODEL_PATH ?? '';
  const modelName = env.EDGEFLEET_MODEL_NAME ?? '';
  const portText = env.EDGEFLEET_PORT ?? '';
  if (modelPath === '') return { ok: false, error: 'EDGEFLEET_MODEL_PATH is not set: it names the .onnx file to serve' };
  if (modelName === '') return { ok: false, error: 'EDGEFLEET_MODEL_NAME is not set: it is the name clients use in /v2/models/<name>' };
  const port = Number(portText);
  if (portText.trim() === '' || !Number.isInteger(port) || port < 0 || port > 65535) {
    return { ok: false, error: `EDGEFLEET_PORT must be a port number 0-65535, got ${JSON.stringify(portText)}` };
  }
  const host = env.EDGEFLEET_HOST || '127.0.0.1';
  const modelVersion = env.EDGEFLEET_MODEL_VERSION || '1';
  return { ok: true, config: { modelPath, modelName, modelVersion, host, port } };
}
