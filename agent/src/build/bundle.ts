/**
 * Builds the agent to plain JavaScript for endpoints: `suture-agent.mjs` and, beside it,
 * `engine-worker.mjs` (isolated-engine.ts finds the worker next to itself by extension). koffi
 * (native) and frida (optional) stay outside the bundle. Running without tsx saves ~30 MB of
 * RSS, and the agent starts in a fraction of the time.
 *
 *   node --import tsx agent/src/build/bundle.ts [outdir]     (default agent/dist)
 * and run it with AGENT_NODE_FLAGS (below).
 */
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';

const src = fileURLToPath(new URL('..', import.meta.url));

/** Bundles `entries` (name -> source file) into `outdir` as NAME.mjs; returns the output paths. */
export async function bundle(opts: { entries: Record<string, string>; outdir: string; target?: string }): Promise<Record<string, string>> {
  await build({
    entryPoints: opts.entries,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: opts.target ?? 'node20',
    external: ['koffi', 'frida'],
    outdir: opts.outdir,
    outExtension: { '.js': '.mjs' },
    // CommonJS dependencies (commander) call require(), which an ES module does not have.
    banner: { js: "import { createRequire as __bundleRequire } from 'node:module'; const require = __bundleRequire(import.meta.url);" },
    logLevel: 'warning',
  });
  return Object.fromEntries(Object.keys(opts.entries).map((name) => [name, join(opts.outdir, `${name}.mjs`)]));
}

/**
 * How endpoints run the agent. It is bound by system calls and procfs reads, not by JavaScript:
 * V8's optimizing compiler (off in lite mode) buys nothing `pnpm bench:engine` can measure and
 * costs ~25 MB of RSS; a 1 MB young generation and one V8 helper thread save ~7 MB more.
 */
export const AGENT_NODE_FLAGS = ['--lite-mode', '--max-semi-space-size=1', '--v8-pool-size=1'];

/** The agent's two entry points. */
export const AGENT_ENTRIES = { 'suture-agent': join(src, 'main.ts'), 'engine-worker': join(src, 'engines', 'engine-worker.ts') };

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const outdir = resolve(process.argv[2] ?? join(src, '..', 'dist'));
  const out = await bundle({ entries: AGENT_ENTRIES, outdir });
  console.log(`built ${Object.values(out).join(', ')}\nrun: node ${AGENT_NODE_FLAGS.join(' ')} ${out['suture-agent']} run`);
}
