/**
 * Setup file of the `unit` project: a unit test may not start a process or open a socket,
 * not even on loopback. Each way to do either throws, so a test that needs one fails at
 * once with the fix in the message instead of passing slowly in the wrong tier.
 */
import childProcess from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';

const FIX = 'name the file *.integration.test.ts (see README, "Tests")';

function forbid(what: string): never {
  throw new Error(`unit tests may not start processes / open sockets (${what}): ${FIX}`);
}

for (const name of ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork'] as const) {
  Object.defineProperty(childProcess, name, {
    value: () => forbid(`child_process.${name}`),
    configurable: true,
    writable: true,
  });
}
net.Server.prototype.listen = function listen(): never {
  forbid('net.Server.listen');
};
// Every outgoing connection (net.connect, tls.connect, http, undici, fetch) ends here.
net.Socket.prototype.connect = function connect(): never {
  forbid('net.Socket.connect');
};
net.connect = net.createConnection = (): never => forbid('net.connect');
// `import { spawn } from 'node:child_process'` reads the patched functions too.
syncBuiltinESMExports();
