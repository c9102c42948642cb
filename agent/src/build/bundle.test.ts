/** The endpoint build runs as endpoints run it: bundled JavaScript, the production flags, no tsx. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AGENT_ENTRIES, AGENT_NODE_FLAGS, bundle } from './bundle.ts';

test('the bundled agent starts with the production flags and reports its state', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'suture-build-'));
  try {
    const out = await bundle({ entries: AGENT_ENTRIES, outdir: join(dir, 'dist') });
    const env = { ...process.env, NODE_PATH: new URL('../../node_modules', import.meta.url).pathname }; // koffi stays outside the bundle
    const { stdout } = await promisify(execFile)(process.execPath, [...AGENT_NODE_FLAGS, out['suture-agent']!, '--state-dir', join(dir, 'state'), '--json', 'status'], { env });
    const status = JSON.parse(stdout);
    assert.deepEqual(status.applied, []);
    assert.deepEqual(status.enabled, []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
