#!/usr/bin/env node
// Finds *.test.ts under the given folders and runs them with node's test runner (Node 20 has no
// glob support in `--test`). Extra flags after `--` go to node.
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';

const sep = process.argv.indexOf('--');
const dirs = sep === -1 ? process.argv.slice(2) : process.argv.slice(2, sep);
const extra = sep === -1 ? [] : process.argv.slice(sep + 1);

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const files = dirs.flatMap((d) => (statSync(resolve(d)).isDirectory() ? walk(resolve(d), []) : [resolve(d)])).sort();
if (files.length === 0) {
  console.error(`no test files under ${dirs.join(', ')}`);
  process.exit(1);
}
const cwd = process.cwd();
const here = statSync('.');
const r = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=1', ...extra, ...files],
  { stdio: 'inherit' },
);
// Every file failing at once with "Cannot find package 'tsx' imported from /" means the directory
// the tests run in was deleted or replaced under them (another checkout of the same path), not
// that the tests failed: say so, so nobody goes looking for a bug in them.
let now;
try {
  now = statSync(cwd);
} catch {
  now = undefined;
}
if (statSync('.').nlink === 0 || now?.ino !== here.ino || now?.dev !== here.dev) {
  console.error(`run-tests: ${cwd} was deleted or replaced while the tests ran; the results above are not the tests' — run them again on a checkout nothing else writes to`);
}
process.exit(r.status ?? 1);
