/**
 * Many enrolled node identities, made the way agents make them (an ECDSA P-256 key and a
 * CSR each, traded with a bootstrap token for a client certificate), and the heartbeat body
 * each node sends. Keys and CSRs are made up front: that is the nodes' cost, not the server's.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labelsFromFacts, probeHardware } from '@edgefleet/agent';
import { writeHardwareFixture } from '@edgefleet/agent/fixtures';
import { EdgefleetError, type HardwareFacts, type Labels, retryClassOf, type StatusRequest, sleep } from '@edgefleet/protocol';
import { EdgefleetClient } from '@edgefleet/protocol/node';
import { newKeyAndCsr } from '../../packages/agent/src/identity/csr.js';

/** One enrolled node as the load generator drives it. */
export interface NodeIdentity {
  nodeId: string;
  certPem: string;
  keyPem: string;
  /** Its heartbeat: its own facts (serial), labels, and the workload it runs. */
  status: StatusRequest;
}

/** Facts and labels of a Pi 5 with a Hailo-8L, from the agent's own hardware probe. */
export async function piFacts(): Promise<{ facts: HardwareFacts; labels: Labels }> {
  const dir = mkdtempSync(join(tmpdir(), 'edgefleet-bench-hw-'));
  try {
    await writeHardwareFixture(dir, 'pi5-hailo8l');
    const facts = await probeHardware(dir, { agentVersion: 'bench' });
    return { facts, labels: labelsFromFacts(facts, { site: 'bench' }) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The heartbeat of node `i`: what a node running one deployment reports every interval. */
export function heartbeatOf(facts: HardwareFacts, labels: Labels, serial: string): StatusRequest {
  return {
    facts: { ...facts, board: { ...facts.board, serial } },
    labels,
    workloads: [
      {
        deployment: 'detector',
        revision: 3,
        state: 'running',
        reason: null,
        message: null,
        endpoint: 'http://127.0.0.1:8080',
        active: 'primary',
        servingRevision: 3,
        heldRevisions: [2, 3],
      },
    ],
  };
}

/**
 * Enrolls `count` nodes with one many-use token, `width` at a time, honouring 429
 * `Retry-After` like an agent. Prints progress every 500 nodes.
 */
export async function enrollNodes(opts: { server: string; caPem: string; token: string; count: number; width?: number }): Promise<NodeIdentity[]> {
  const { facts, labels } = await piFacts();
  const width = opts.width ?? 8;
  const anon = new EdgefleetClient({ server: opts.server, ca: opts.caPem });
  const nodes: NodeIdentity[] = new Array(opts.count);
  let next = 0;
  let done = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: width }, async () => {
      for (let i = next++; i < opts.count; i = next++) {
        const serial = (0x10000000 + i).toString(16).padStart(16, '0');
        const status = heartbeatOf(facts, labels, serial);
        const { keyPem, csrPem } = await newKeyAndCsr();
        for (;;) {
          try {
            const res = await anon.enroll({ token: opts.token, csr: csrPem, facts: status.facts as HardwareFacts, labels });
            nodes[i] = { nodeId: res.nodeId, certPem: res.certificate, keyPem, status };
            break;
          } catch (err) {
            // A busy server (429) or a dropped connection passes on retry; a bad token does not.
            if (retryClassOf(err) === 'terminal') throw err;
            await sleep((err instanceof EdgefleetError ? err.retryAfterMs : undefined) ?? 1000);
          }
        }
        if (++done % 500 === 0) console.log(`  enrolled ${done}/${opts.count} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
      }
    }),
  );
  await anon.close();
  return nodes;
}
