import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';
import { type AuthChallenge, parseAuthChallenges, tokenUrl } from './auth-challenge.js';

/** How to reach one repository of a registry. */
export interface RegistryEndpoint {
  /** `https://HOST[:PORT]` (or `http://` for a plain local registry). */
  server: string;
  repository: string;
  /** PEM CA(s) for the registry's (and its token service's) TLS certificate; undefined: the system's. */
  caPem?: string | undefined;
  username?: string | null | undefined;
  password?: string | null | undefined;
}

/** A response whose body the caller must consume or destroy. */
export interface RegistryResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Readable;
}

/** A failure talking to the registry; its message never holds credentials or tokens. */
export class RegistryRequestError extends Error {
  constructor(
    message: string,
    /** The HTTP status when the registry answered; undefined for network failures. */
    readonly status?: number,
  ) {
    super(message);
    this.name = 'RegistryRequestError';
  }
}

const MAX_REDIRECTS = 5;
const IDLE_TIMEOUT_MS = 60_000;
const MAX_TOKEN_BYTES = 1024 * 1024;

/**
 * A client for one repository of an OCI distribution registry: sends GETs under `/v2/`,
 * answers the registry's auth challenge once per request (anonymous first; `Basic` with the
 * credentials; `Bearer` through the token endpoint named in the challenge, with the
 * credentials as Basic when there are any, per the distribution token spec) and keeps the
 * resulting `Authorization` for later requests. Follows redirects (blob storage behind a
 * CDN), dropping `Authorization` when the redirect leaves the registry's origin.
 *
 * Credentials live only in request headers: no message this class makes contains them.
 */
export class RegistryClient {
  private readonly origin: URL;
  private readonly agent: HttpAgent;
  private authorization: string | undefined;

  constructor(private readonly endpoint: RegistryEndpoint) {
    this.origin = new URL(endpoint.server);
    if (this.origin.protocol !== 'https:' && this.origin.protocol !== 'http:') {
      throw new RegistryRequestError(`registry server ${JSON.stringify(endpoint.server)} is not an https:// (or http://) URL`);
    }
    this.agent =
      this.origin.protocol === 'https:'
        ? new HttpsAgent({ keepAlive: true, maxSockets: 4, ...(endpoint.caPem ? { ca: endpoint.caPem } : {}) })
        : new HttpAgent({ keepAlive: true, maxSockets: 4 });
  }

  /** The repository this client reads. */
  get repository(): string {
    return this.endpoint.repository;
  }

  /** Closes the kept-alive connections. */
  close(): void {
    this.agent.destroy();
  }

  /**
   * `GET /v2/<repository>/<path>` (e.g. `manifests/sha256:…`, `blobs/sha256:…`). Returns
   * any status the registry answered after authentication; throws
   * {@link RegistryRequestError} for network failures and refused credentials.
   */
  async get(path: string, headers: Record<string, string>, signal?: AbortSignal): Promise<RegistryResponse> {
    const url = new URL(`/v2/${this.endpoint.repository}/${path}`, this.origin);
    let res = await this.send(url, headers, this.authorization, signal);
    if (res.status === 401) {
      const challenge = res.headers['www-authenticate'];
      res.body.destroy();
      this.authorization = await this.answer(typeof challenge === 'string' ? challenge : '', signal);
      res = await this.send(url, headers, this.authorization, signal);
      if (res.status === 401 || res.status === 403) {
        res.body.destroy();
        throw new RegistryRequestError(
          `the registry ${this.origin.host} refused the credentials for ${this.endpoint.repository} (HTTP ${res.status})`,
          res.status,
        );
      }
    }
    return res;
  }

  /** Reads a whole (small) response body, refusing more than `limit` bytes. */
  static async readBody(res: RegistryResponse, limit: number): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) {
        res.body.destroy();
        throw new RegistryRequestError(`the registry sent more than ${limit} bytes where a manifest or token was expected`);
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks);
  }

  /** Works out the `Authorization` for a challenge; throws when it cannot be answered. */
  private async answer(header: string, signal: AbortSignal | undefined): Promise<string> {
    const challenges = parseAuthChallenges(header);
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    if (bearer !== undefined) return `Bearer ${await this.fetchToken(bearer, signal)}`;
    if (challenges.some((c) => c.scheme === 'basic')) {
      const basic = this.basic();
      if (basic === undefined) {
        throw new RegistryRequestError(
          `the registry ${this.origin.host} requires credentials for ${this.endpoint.repository}: add them to the registry entry`,
          401,
        );
      }
      return basic;
    }
    throw new RegistryRequestError(
      `the registry ${this.origin.host} asked for authentication the agent does not speak (${JSON.stringify(challenges.map((c) => c.scheme))})`,
      401,
    );
  }

  private basic(): string | undefined {
    const { username, password } = this.endpoint;
    if (username === null || username === undefined) return undefined;
    return `Basic ${Buffer.from(`${username}:${password ?? ''}`).toString('base64')}`;
  }

  /** The distribution token flow: GET realm?service&scope, Basic credentials if any. */
  private async fetchToken(challenge: AuthChallenge, signal: AbortSignal | undefined): Promise<string> {
    let url: URL;
    try {
      url = tokenUrl(challenge, this.endpoint.repository);
    } catch (err) {
      throw new RegistryRequestError((err as Error).message);
    }
    const res = await this.send(url, { accept: 'application/json' }, this.basic(), signal);
    const body = await RegistryClient.readBody(res, MAX_TOKEN_BYTES);
    if (res.status !== 200) {
      throw new RegistryRequestError(`the token service ${url.host} refused a token for ${this.endpoint.repository} (HTTP ${res.status})`, res.status);
    }
    let parsed: { token?: unknown; access_token?: unknown };
    try {
      parsed = JSON.parse(body.toString('utf8')) as typeof parsed;
    } catch {
      throw new RegistryRequestError(`the token service ${url.host} answered something that is not JSON`);
    }
    const token = typeof parsed.token === 'string' ? parsed.token : parsed.access_token;
    if (typeof token !== 'string' || token === '') throw new RegistryRequestError(`the token service ${url.host} answered without a token`);
    return token;
  }

  /** One GET, following redirects; `authorization` goes only to the origin it was made for. */
  private async send(
    start: URL,
    headers: Record<string, string>,
    authorization: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<RegistryResponse> {
    let url = start;
    const authOrigin = start.origin;
    for (let hop = 0; ; hop += 1) {
      const res = await this.once(url, { ...headers, ...(authorization !== undefined && url.origin === authOrigin ? { authorization } : {}) }, signal);
      const location = res.headers.location;
      const status = res.statusCode ?? 0;
      if (![301, 302, 303, 307, 308].includes(status) || typeof location !== 'string') return { status, headers: res.headers, body: res };
      res.resume();
      if (hop >= MAX_REDIRECTS) throw new RegistryRequestError(`the registry ${this.origin.host} redirected more than ${MAX_REDIRECTS} times`);
      url = new URL(location, url);
    }
  }

  private once(url: URL, headers: Record<string, string>, signal: AbortSignal | undefined): Promise<IncomingMessage> {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    // Redirects to another host use a fresh agent (and the system CAs unless ours was given).
    const agent = url.origin === this.origin.origin ? this.agent : undefined;
    return new Promise((resolve, reject) => {
      const req = send(
        url,
        {
          method: 'GET',
          headers: { 'user-agent': 'edgefleet-agent', ...headers },
          agent,
          signal,
          ...(agent === undefined && this.endpoint.caPem ? { ca: this.endpoint.caPem } : {}),
        },
        resolve,
      );
      req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(new Error(`no answer from ${url.host} in ${IDLE_TIMEOUT_MS / 1000} s`)));
      req.on('error', (err) => {
        if (signal?.aborted) return reject(signal.reason);
        // Node's messages name host and port only; the URL path holds no secrets either.
        reject(new RegistryRequestError(`cannot reach ${url.host}: ${err.message}`));
      });
      req.end();
    });
  }
}
