/* A test target with a real off-by-one: check_len() lets a 16-character input through, and the
 * terminator lands on the canary after the buffer. Commands on stdin, one reply line each:
 *   N      -> "ok=<0|1> canary=<intact|smashed>"
 *   stats  -> "calls=<n> anomalies=<n>" (from the busy threads, see below)
 *   load   -> "loaded" (dlopen build: loads the library that holds check_len)
 * argv[1]: number of threads calling check_len in tight loops (default 0); a result that is
 * neither the flawed nor the fixed one counts as an anomaly. SECCOMP=1 in the environment puts
 * the process under a (permissive) seccomp filter, as sandboxed services are. */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef USE_DLOPEN
#include <dlfcn.h>
static int (*check_len)(int);
#else
int check_len(int n);
#endif

static struct { char buf[16]; char canary[8]; } box;
static volatile long calls, anomalies;
static volatile int sixteen = 16, five = 5, seventeen = 17;

static void *hammer(void *arg) {
  (void)arg;
  for (;;) {
    int a = check_len(sixteen), b = check_len(five), c = check_len(seventeen);
    if ((a != 0 && a != 1) || b != 1 || c != 0) __atomic_add_fetch(&anomalies, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&calls, 3, __ATOMIC_RELAXED);
  }
  return 0;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (getenv("SECCOMP")) {
    struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    struct sock_fprog prog = { 1, &allow };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)) { perror("seccomp"); return 1; }
  }
  int threads = argc > 1 ? atoi(argv[1]) : 0;
#ifdef USE_DLOPEN
  threads = 0; /* nothing to call before the library is loaded */
#endif
  for (int i = 0; i < threads; i++) { pthread_t t; pthread_create(&t, 0, hammer, 0); }
  puts("ready");
  char line[64];
  while (fgets(line, sizeof line, stdin)) {
    if (strncmp(line, "stats", 5) == 0) { printf("calls=%ld anomalies=%ld\n", calls, anomalies); continue; }
#ifdef USE_DLOPEN
    if (strncmp(line, "load", 4) == 0) {
      void *h = dlopen(getenv("FLAW_LIB"), RTLD_NOW);
      check_len = h ? (int (*)(int))dlsym(h, "check_len") : 0;
      puts(check_len ? "loaded" : dlerror());
      continue;
    }
    if (!check_len) { puts("not-loaded"); continue; }
#endif
    int n = atoi(line);
    if (n < 0 || n > 64) { puts("bad"); continue; }
    memcpy(box.canary, "CANARY!", 8);
    int ok = check_len(n);
    if (ok) { memset(box.buf, 'A', (size_t)n); ((char *)&box)[n] = 0; }
    printf("ok=%d canary=%s\n", ok, memcmp(box.canary, "CANARY!", 8) == 0 ? "intact" : "smashed");
  }
  return 0;
}
