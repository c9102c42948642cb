/** A real agent's side of the socket, for API tests: enrollment through the API and a client that queues what the server sends. */
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import type { FastifyInstance } from 'fastify';
import { PROTOCOL_VERSION, parseMessage, type ServerMessage } from '@suture/shared/protocol';
import { bearer } from './helper.ts';

/** Enrolls an agent through the API (an enrollment token of `group`) and returns a fresh agent token for it. */
export async function enrollAgent(app: FastifyInstance, opts: { admin: string; hostname: string; group?: string }) {
  const tok = await app.inject({ method: 'POST', url: '/api/v1/enrollment-tokens', headers: bearer(opts.admin), payload: { name: opts.hostname, group: opts.group ?? 'web', maxUses: 1, expiresInHours: 1 } });
  const enrolled = await app.inject({ method: 'POST', url: '/api/v1/agents/enroll', payload: { token: tok.json().token, hostname: opts.hostname, os: 'linux', arch: 'x86_64', version: '0.1.0' } });
  const { agent, credential } = enrolled.json();
  const s = await app.inject({ method: 'POST', url: '/api/v1/agents/session', payload: { agentId: agent.id, credential } });
  return { id: agent.id as string, token: s.json().token as string };
}

export const helloMessage = { type: 'hello', agentVersion: '0.2.0', os: 'linux', arch: 'x86_64', hostname: 'renamed-host', desiredVersion: 0 };

/** Connects to `url` as the agent with `token`; every message the server sends must parse. */
export async function connectAgent(url: string, token: string) {
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
  const inbox: ServerMessage[] = [];
  /** every message received, in order (`next` takes from `inbox`, never from here) */
  const received: ServerMessage[] = [];
  const waiters: (() => void)[] = [];
  ws.on('message', (d: Buffer) => {
    const p = parseMessage('server', d);
    assert.ok(p.ok, `the server sent an invalid message: ${d.toString()}`);
    inbox.push(p.message);
    received.push(p.message);
    waiters.splice(0).forEach((w) => w());
  });
  const closed = new Promise<{ code: number; reason: string }>((res) => ws.once('close', (code, reason) => res({ code, reason: reason.toString() })));
  await new Promise<void>((res, rej) => (ws.once('open', () => res()), ws.once('unexpected-response', (_q, r) => rej(new Error(`upgrade refused: ${r.statusCode}`))), ws.once('error', rej)));
  const next = async <T extends ServerMessage['type']>(type: T): Promise<Extract<ServerMessage, { type: T }>> => {
    for (;;) {
      const i = inbox.findIndex((m) => m.type === type);
      if (i >= 0) return inbox.splice(i, 1)[0] as Extract<ServerMessage, { type: T }>;
      await new Promise<void>((res) => waiters.push(res));
    }
  };
  const send = (m: object) => ws.send(JSON.stringify({ v: PROTOCOL_VERSION, ...m }));
  return { ws, next, send, closed, received };
}
