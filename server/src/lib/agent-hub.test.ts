import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket, { WebSocketServer } from 'ws';
import { createAgentHub } from './agent-hub.ts';

// Real sockets over loopback: the hub holds the server side of each.
const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
const listening = once(wss, 'listening');
after(() => {
  for (const ws of wss.clients) ws.terminate();
  return new Promise((resolve) => wss.close(resolve));
});
async function serverSocket(): Promise<{ socket: WebSocket; closed: Promise<number> }> {
  await listening;
  const accepted = once(wss, 'connection') as Promise<[WebSocket]>;
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  const closed = once(client, 'close').then(([code]) => code as number);
  const [socket] = await accepted;
  return { socket, closed };
}

test('a note from another replica closes the local socket only when the connection it names is newer', async () => {
  const hub = createAgentHub();
  const agent = '00000000-0000-4000-8000-000000000001';
  const older = hub.attach('11111111-0000-4000-8000-000000000001', (await serverSocket()).socket, 'web'); // any connection attached before
  await sleep(5); // ids are ordered by the millisecond they were attached
  const local = await serverSocket();
  const ours = hub.attach(agent, local.socket, 'web');
  assert.ok(older < ours);
  assert.equal(hub.replacedElsewhere(agent, ours), false, 'the note about our own connection');
  assert.equal(hub.replacedElsewhere(agent, older), false, 'a late note about an older connection');
  await sleep(5);
  const newer = hub.attach('22222222-0000-4000-8000-000000000001', (await serverSocket()).socket, 'web');
  assert.equal(hub.replacedElsewhere(agent, newer), true);
  assert.equal(await local.closed, 4000);
});
