import { createHash } from 'node:crypto';
import { createServer, get, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ArtifactSource } from '../../src/artifacts/download.js';

/** What the test server saw for one request. */
export interface SeenRequest {
  url: string;
  range: string | undefined;
}

/** Knobs a test turns; each one-shot knob resets itself once used. */
export interface ServerBehaviour {
  /** Send this many body bytes of the next response, then cut the connection. */
  cutAfter?: number;
  /** Answer the next N requests with 500. */
  failNext: number;
  /** Answer every request with the whole blob (200), as a server without Range support does. */
  ignoreRange: boolean;
  /** Serve the blob with one byte flipped. */
  tamper: boolean;
}

/** A tiny artifact server: one blob, `Range: bytes=N-` support, and failures on demand. */
export interface ArtifactTestServer {
  blob: Buffer;
  digest: string;
  base: string;
  behaviour: ServerBehaviour;
  requests: SeenRequest[];
  reset(): void;
  close(): Promise<void>;
}

export async function startArtifactServer(blob: Buffer): Promise<ArtifactTestServer> {
  const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
  const tampered = Buffer.from(blob);
  tampered[tampered.length >> 1] = (tampered[tampered.length >> 1] ?? 0) ^ 0xff;
  const requests: SeenRequest[] = [];
  const behaviour: ServerBehaviour = { failNext: 0, ignoreRange: false, tamper: false };

  const server: Server = createServer((req, res) => {
    const url = req.url ?? '';
    requests.push({ url, range: req.headers.range });
    if (url !== `/v1/artifacts/${digest}`) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'not_found', message: 'unknown artifact', hint: '' } }));
      return;
    }
    if (behaviour.failNext > 0) {
      behaviour.failNext -= 1;
      res.writeHead(500);
      res.end();
      return;
    }
    const body = behaviour.tamper ? tampered : blob;
    let start = 0;
    const headers: Record<string, string | number> = { 'accept-ranges': 'bytes', etag: `"${digest}"` };
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range !== null && !behaviour.ignoreRange) {
      start = Number(range[1]);
      if (start >= body.length) {
        res.writeHead(416, { 'content-range': `bytes */${body.length}` });
        res.end();
        return;
      }
      headers['content-range'] = `bytes ${start}-${body.length - 1}/${body.length}`;
    }
    const slice = body.subarray(start);
    headers['content-length'] = slice.length;
    res.writeHead(start > 0 ? 206 : 200, headers);
    const cut = behaviour.cutAfter;
    if (cut !== undefined) {
      behaviour.cutAfter = undefined;
      // Flush the first bytes, then drop the connection as a flaky link would.
      res.write(slice.subarray(0, cut), () => res.destroy());
      return;
    }
    res.end(slice);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    blob,
    digest,
    base: `http://127.0.0.1:${port}`,
    behaviour,
    requests,
    reset() {
      requests.length = 0;
      Object.assign(behaviour, { cutAfter: undefined, failNext: 0, ignoreRange: false, tamper: false });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** An `ArtifactSource` over plain `http.get`, shaped like `EdgefleetClient.openArtifact`. */
export function httpArtifactSource(base: string): ArtifactSource {
  return {
    open: (digest, offset, signal) =>
      new Promise((resolve, reject) => {
        const headers: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-` } : {};
        const req = get(`${base}/v1/artifacts/${digest}`, { headers, ...(signal === undefined ? {} : { signal }) }, (res) =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res }),
        );
        req.on('error', reject);
      }),
  };
}
