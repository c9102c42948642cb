import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { createServer as createTlsServer, type TlsOptions } from 'node:tls';
import type { SiemEvent } from './siem-event.schema.ts';

/** Receivers and parsers written from the RFCs, independent of the code under test. */

export function sampleEvent(over: Partial<SiemEvent> = {}): SiemEvent {
  return {
    seq: '42',
    id: '6f1c1a2e-0d7b-4c55-9a43-1b2c3d4e5f60',
    type: 'applied',
    agentId: '0e8a4b7c-1111-4222-8333-944445555666',
    hostname: 'web-01.example.com',
    group: 'web',
    patchId: 'SUT-2026-0001',
    cves: ['CVE-2026-40001'],
    severity: 'high',
    pid: 4242,
    reason: null,
    detail: null,
    commandId: null,
    at: '2026-03-01T10:00:00.123Z',
    receivedAt: '2026-03-01T10:00:00.456Z',
    ...over,
  };
}

export const eventsFrom = (first: number, n: number): SiemEvent[] =>
  Array.from({ length: n }, (_, i) => sampleEvent({ seq: String(first + i), id: `00000000-0000-4000-8000-${String(first + i).padStart(12, '0')}` }));

export interface ParsedSyslog {
  pri: number;
  version: string;
  timestamp: string;
  hostname: string;
  appName: string;
  procId: string;
  msgId: string;
  sd: { id: string; params: Record<string, string> }[];
  bom: boolean;
  msg: string | undefined;
}

/** RFC 5424 section 6, as a receiver reads it. Throws on anything malformed. */
export function parseSyslog(buf: Buffer): ParsedSyslog {
  const text = buf.toString('utf8');
  const m = /^<(\d{1,3})>(\d{1,2}) (\S+) (\S+) (\S+) (\S+) (\S+) /.exec(text);
  if (!m) throw new Error(`not RFC 5424: ${text.slice(0, 80)}`);
  let i = m[0].length;
  const sd: ParsedSyslog['sd'] = [];
  if (text[i] === '-') i++;
  else {
    while (text[i] === '[') {
      i++;
      const idEnd = text.slice(i).search(/[ \]]/) + i;
      const el = { id: text.slice(i, idEnd), params: {} as Record<string, string> };
      i = idEnd;
      while (text[i] === ' ') {
        const eq = text.indexOf('="', i);
        const name = text.slice(i + 1, eq);
        let j = eq + 2;
        let value = '';
        for (; text[j] !== '"'; j++) {
          if (j >= text.length) throw new Error('unterminated PARAM-VALUE');
          if (text[j] === '\\' && ['"', '\\', ']'].includes(text[j + 1]!)) j++;
          value += text[j];
        }
        el.params[name] = value;
        i = j + 1;
      }
      if (text[i] !== ']') throw new Error(`bad SD-ELEMENT at ${i}: ${text.slice(i, i + 20)}`);
      i++;
      sd.push(el);
    }
  }
  let msg: string | undefined;
  let bom = false;
  if (i < text.length) {
    if (text[i] !== ' ') throw new Error(`expected SP before MSG at ${i}`);
    msg = text.slice(i + 1);
    if (msg.startsWith('\ufeff')) {
      bom = true;
      msg = msg.slice(1);
    }
  }
  return { pri: Number(m[1]), version: m[2]!, timestamp: m[3]!, hostname: m[4]!, appName: m[5]!, procId: m[6]!, msgId: m[7]!, sd, bom, msg };
}

export interface ParsedCef {
  version: string;
  vendor: string;
  product: string;
  deviceVersion: string;
  signatureId: string;
  name: string;
  severity: string;
  ext: Record<string, string>;
}

/** CEF as a collector reads it: `|`-separated header with `\|` and `\\`, then key=value pairs. */
export function parseCef(s: string): ParsedCef {
  const fields: string[] = [];
  let cur = '';
  let i = 0;
  for (; i < s.length && fields.length < 7; i++) {
    if (s[i] === '\\' && (s[i + 1] === '|' || s[i + 1] === '\\')) cur += s[++i];
    else if (s[i] === '|') (fields.push(cur), (cur = ''));
    else cur += s[i];
  }
  if (fields.length < 7 || !fields[0]!.startsWith('CEF:')) throw new Error(`not CEF: ${s.slice(0, 80)}`);
  const rest = s.slice(i);
  const eqs: number[] = [];
  for (let j = 0; j < rest.length; j++) {
    if (rest[j] === '\\') j++;
    else if (rest[j] === '=') eqs.push(j);
  }
  const ext: Record<string, string> = {};
  let keyStart = 0;
  eqs.forEach((eq, k) => {
    const next = eqs[k + 1];
    const end = next === undefined ? rest.length : rest.lastIndexOf(' ', next);
    ext[rest.slice(keyStart, eq)] = rest
      .slice(eq + 1, end)
      .replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c));
    keyStart = end + 1;
  });
  const [version, vendor, product, deviceVersion, signatureId, name, severity] = fields as [string, string, string, string, string, string, string];
  return { version: version.slice(4), vendor, product, deviceVersion, signatureId, name, severity, ext };
}

/** RFC 6587 octet counting, as a receiver de-frames a stream: `LEN SP MSG` repeated. */
export function octetCountingReader(onMessage: (m: Buffer) => void): (chunk: Buffer) => void {
  let buf = Buffer.alloc(0);
  return (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      const sp = buf.indexOf(0x20);
      if (sp < 0) return;
      const len = buf.subarray(0, sp).toString('ascii');
      if (!/^[1-9][0-9]*$/.test(len)) throw new Error(`bad MSG-LEN: ${JSON.stringify(len)}`);
      if (buf.length < sp + 1 + Number(len)) return;
      onMessage(Buffer.from(buf.subarray(sp + 1, sp + 1 + Number(len))));
      buf = buf.subarray(sp + 1 + Number(len));
    }
  };
}

export interface StreamReceiver {
  port: number;
  messages: Buffer[];
  connections: number;
  /** Stops listening and cuts every connection (a receiver going down). */
  close(): Promise<void>;
  waitFor(n: number, timeoutMs?: number): Promise<Buffer[]>;
}

/** A syslog receiver on loopback: plain TCP, or TLS with `tls` options. `port` 0 picks a free one. */
export async function startStreamReceiver(opts: { port?: number; tls?: TlsOptions } = {}): Promise<StreamReceiver> {
  const sockets = new Set<Socket>();
  const r = { port: 0, messages: [] as Buffer[], connections: 0 } as StreamReceiver;
  const onConnection = (s: Socket) => {
    r.connections++;
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
    s.on('data', octetCountingReader((m) => r.messages.push(m)));
  };
  const server: Server = opts.tls ? createTlsServer(opts.tls, onConnection) : createNetServer(onConnection);
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(opts.port ?? 0, '127.0.0.1', () => resolve()));
  r.port = (server.address() as AddressInfo).port;
  r.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  r.waitFor = async (n, timeoutMs = 10_000) => {
    const until = Date.now() + timeoutMs;
    while (r.messages.length < n) {
      if (Date.now() > until) throw new Error(`receiver got ${r.messages.length} of ${n} messages`);
      await delay(10);
    }
    return r.messages;
  };
  return r;
}

export interface TestPki {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A second CA that issued nothing we trust. */
  otherCa: string;
}

/** A throwaway CA, a server certificate for syslog.test and 127.0.0.1, and a client certificate (openssl CLI). */
export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'suture-siem-pki-'));
  const ossl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const key = (name: string) => ossl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`);
  const ca = (name: string) => {
    key(name);
    ossl('req', '-x509', '-new', '-key', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${name}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  };
  const issue = (name: string, ext: string, serial: string) => {
    key(name);
    ossl('req', '-new', '-key', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    writeFileSync(join(dir, `${name}.ext`), `basicConstraints=CA:FALSE\n${ext}\n`);
    ossl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', serial, '-days', '2', '-out', `${name}.pem`, '-extfile', `${name}.ext`);
  };
  try {
    ca('ca');
    ca('other-ca');
    issue('server', 'subjectAltName=DNS:syslog.test,IP:127.0.0.1\nextendedKeyUsage=serverAuth', '2');
    issue('client', 'extendedKeyUsage=clientAuth', '3');
    const read = (f: string) => readFileSync(join(dir, f), 'utf8');
    return {
      ca: read('ca.pem'),
      serverCert: read('server.pem'),
      serverKey: read('server.key'),
      clientCert: read('client.pem'),
      clientKey: read('client.key'),
      otherCa: read('other-ca.pem'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
