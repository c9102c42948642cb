import { createRequire } from 'node:module';

/**
 * Process exits with their wait status, for every process on the host, from the kernel's proc
 * connector (netlink, root only), through koffi. The agent is not the parent of the processes
 * it patches, so this is the one way to learn that one died of SIGSEGV rather than exited.
 */
const require = createRequire(import.meta.url);
type Koffi = typeof import('koffi');

const AF_NETLINK = 16;
const SOCK_DGRAM = 2;
const NETLINK_CONNECTOR = 11;
const CN_IDX_PROC = 1;
const CN_VAL_PROC = 1;
const PROC_CN_MCAST_LISTEN = 1;
const PROC_EVENT_EXIT = 0x80000000;
const SOL_SOCKET = 1;
const SO_RCVTIMEO = 20;
const NLMSG_HDR = 16;
const CN_MSG_HDR = 20;

/** Signals that mean the process crashed (not an operator's kill). */
export const FATAL_SIGNALS = new Set([4, 5, 6, 7, 8, 11, 31]); // ILL TRAP ABRT BUS FPE SEGV SYS

export interface ProcessExit {
  pid: number;
  /** the signal that killed it, 0 for a normal exit */
  signal: number;
  exitCode: number;
}

export function watchExits(onExit: (e: ProcessExit) => void): { stop(): void } {
  const koffi = require('koffi') as Koffi;
  const libc = koffi.load('libc.so.6');
  const socket = libc.func('int socket(int domain, int type, int protocol)');
  const bind = libc.func('int bind(int fd, void *addr, uint32_t len)');
  const send = libc.func('long send(int fd, void *buf, size_t len, int flags)');
  const recv = libc.func('long recv(int fd, _Out_ void *buf, size_t len, int flags)');
  const setsockopt = libc.func('int setsockopt(int fd, int level, int name, void *val, uint32_t len)');
  const close = libc.func('int close(int fd)');

  const fd = socket(AF_NETLINK, SOCK_DGRAM, NETLINK_CONNECTOR) as number;
  if (fd < 0) throw new Error(`proc connector socket failed (errno ${koffi.errno()}); crash detection needs root on Linux`);
  const addr = Buffer.alloc(12);
  addr.writeUInt16LE(AF_NETLINK, 0);
  addr.writeUInt32LE(process.pid, 4);
  addr.writeUInt32LE(CN_IDX_PROC, 8);
  // Two binds can collide on the port id when one process watches twice: let the kernel pick.
  if ((bind(fd, addr, 12) as number) < 0) {
    addr.writeUInt32LE(0, 4);
    if ((bind(fd, addr, 12) as number) < 0) throw new Error(`proc connector bind failed (errno ${koffi.errno()})`);
  }
  const timeout = Buffer.alloc(16);
  timeout.writeBigInt64LE(0n, 0);
  timeout.writeBigInt64LE(300_000n, 8); // wake every 300 ms to notice stop()
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, timeout, 16);

  const msg = Buffer.alloc(NLMSG_HDR + CN_MSG_HDR + 4);
  msg.writeUInt32LE(msg.length, 0); // nlmsg_len
  msg.writeUInt16LE(3, 4); // NLMSG_DONE
  msg.writeUInt32LE(process.pid, 12);
  msg.writeUInt32LE(CN_IDX_PROC, NLMSG_HDR);
  msg.writeUInt32LE(CN_VAL_PROC, NLMSG_HDR + 4);
  msg.writeUInt16LE(4, NLMSG_HDR + 16); // payload length
  msg.writeUInt32LE(PROC_CN_MCAST_LISTEN, NLMSG_HDR + CN_MSG_HDR);
  if (Number(send(fd, msg, msg.length, 0)) < 0) throw new Error(`proc connector listen failed (errno ${koffi.errno()})`);

  let stopped = false;
  const buf = Buffer.alloc(4096);
  const loop = () => {
    if (stopped) return void close(fd);
    recv.async(fd, buf, buf.length, 0, (err: unknown, n: number | bigint) => {
      const len = Number(n);
      for (let off = 0; !err && len > 0 && off + NLMSG_HDR <= len; ) {
        const msgLen = buf.readUInt32LE(off);
        if (msgLen < NLMSG_HDR) break;
        const ev = off + NLMSG_HDR + CN_MSG_HDR;
        if (ev + 32 <= len && buf.readUInt32LE(ev) === PROC_EVENT_EXIT) {
          const pid = buf.readUInt32LE(ev + 16);
          const tgid = buf.readUInt32LE(ev + 20);
          const status = buf.readUInt32LE(ev + 24);
          if (pid === tgid) onExit({ pid, signal: status & 0x7f, exitCode: (status >> 8) & 0xff });
        }
        off += (msgLen + 3) & ~3;
      }
      loop();
    });
  };
  loop();
  return {
    stop() {
      stopped = true;
    },
  };
}
