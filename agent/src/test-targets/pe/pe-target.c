/* A Windows test target with a real off-by-one: check_len() lets a 16-character input through
 * and the terminator lands on the canary after the buffer. Same commands and replies as the ELF
 * target (../target.c), but over files instead of pipes, because node.exe and programs under
 * Wine are most reliable with plain files:
 *   target.exe CMD_FILE REPLY_FILE
 * The driver writes "<seq> <command>" to CMD_FILE (write a temp file, then rename over it); the
 * target polls every 2 ms and, for each new seq, replaces REPLY_FILE with "<seq> <reply>" (also
 * by rename, so a reader never sees half a line). At start it replies "0 ready". Commands:
 *   N       -> "ok=<0|1> canary=<intact|smashed>"   (0 <= N <= 23)
 *   spin    -> "spinning"  a thread now loops inside spin() until unspin
 *   unspin  -> "unspun"
 *   quit    -> "bye", then exits */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int check_len(int n);
void spin(volatile int *stop);

static struct { char buf[16]; char canary[8]; } box;
static volatile int stop_spin, spinner_started;
static const char *cmd_path, *reply_path;
static char reply_tmp[MAX_PATH + 8];

static DWORD WINAPI spinner(LPVOID arg) {
  (void)arg;
  spinner_started = 1;
  spin(&stop_spin);
  return 0;
}

static void reply(long seq, const char *text) {
  FILE *f = fopen(reply_tmp, "wb");
  if (!f) exit(2);
  fprintf(f, "%ld %s\n", seq, text);
  fclose(f);
  while (!MoveFileExA(reply_tmp, reply_path, MOVEFILE_REPLACE_EXISTING)) Sleep(1); /* a reader holds it: retry */
}

static int read_command(long *seq, char *cmd) {
  HANDLE h = CreateFileA(cmd_path, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL, OPEN_EXISTING, 0, NULL);
  if (h == INVALID_HANDLE_VALUE) return 0;
  char buf[128];
  DWORD n = 0;
  BOOL ok = ReadFile(h, buf, sizeof buf - 1, &n, NULL);
  CloseHandle(h);
  buf[ok ? n : 0] = 0;
  return sscanf(buf, "%ld %63s", seq, cmd) == 2;
}

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: %s CMD_FILE REPLY_FILE\n", argv[0]); return 1; }
  cmd_path = argv[1];
  reply_path = argv[2];
  snprintf(reply_tmp, sizeof reply_tmp, "%s.tmp", reply_path);
  reply(0, "ready");
  long last = 0;
  for (;;) {
    long seq;
    char cmd[64], out[64];
    if (!read_command(&seq, cmd) || seq == last) { Sleep(2); continue; }
    last = seq;
    if (strcmp(cmd, "quit") == 0) { reply(seq, "bye"); return 0; }
    if (strcmp(cmd, "spin") == 0) {
      stop_spin = 0;
      spinner_started = 0;
      CloseHandle(CreateThread(NULL, 0, spinner, NULL, 0, NULL));
      while (!spinner_started) Sleep(1);
      Sleep(20); /* it is now a call away from spin(), where it stays until unspin */
      reply(seq, "spinning");
      continue;
    }
    if (strcmp(cmd, "unspin") == 0) { stop_spin = 1; Sleep(20); reply(seq, "unspun"); continue; }
    int n = atoi(cmd);
    if (n < 0 || n > 23) { reply(seq, "bad"); continue; }
    memcpy(box.canary, "CANARY!", 8);
    int ok = check_len(n);
    if (ok) { memset(box.buf, 'A', (size_t)n); ((volatile char *)&box)[n] = 0; }
    snprintf(out, sizeof out, "ok=%d canary=%s", ok, memcmp(box.canary, "CANARY!", 8) == 0 ? "intact" : "smashed");
    reply(seq, out);
  }
}
