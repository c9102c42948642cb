#!/usr/bin/env bash
# The one test command, for a fresh machine and for CI: installs what the tests need, then runs
# every test (unit, API on real PostgreSQL and on embedded PGlite, CLI end to end, engines on real
# processes, the Windows engine under Wine).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v gcc >/dev/null || need_apt+=(gcc)
command -v x86_64-w64-mingw32-gcc >/dev/null || need_apt+=(gcc-mingw-w64-x86-64-win32)
command -v nm >/dev/null || need_apt+=(binutils)
command -v wine >/dev/null || need_apt+=(wine wine64)
command -v chromium >/dev/null || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "==> installing ${need_apt[*]} (apt)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "==> missing ${need_apt[*]}: tests that need them will skip (install them with apt-get to run those)"
  fi
fi

if ! command -v pnpm >/dev/null; then
  echo "==> installing pnpm 10 (npm i -g pnpm@10)"
  npm install -g pnpm@10 >/dev/null
fi

# Real PostgreSQL for the database tests: TEST_DATABASE_URL, default the local server.
export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/test}"
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && command -v pg_ctlcluster >/dev/null; then
  echo "==> starting the local PostgreSQL cluster"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
fi

echo "==> pnpm install"
pnpm install --frozen-lockfile
echo "==> Wine cache for the Windows engine tests (node.exe and win32 koffi from npm)"
bash scripts/wine-setup.sh
echo "==> pnpm test (SUTURE_TEST_DB=${SUTURE_TEST_DB:-both})"
pnpm test
