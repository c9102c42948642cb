/**
 * Builds the dashboard into dist/: index.html (no inline script or style, so the server's CSP
 * can forbid them) and content-hashed assets/ that the server serves from memory
 * (server/src/plugins/web.plugin.ts). Runs on `pnpm install` (root postinstall).
 *
 *   node --import tsx server/web/build.ts [outdir]     (default server/web/dist)
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = fileURLToPath(new URL('.', import.meta.url));
const outdir = resolve(process.argv[2] ?? join(here, 'dist'));

const started = Date.now();
await rm(outdir, { recursive: true, force: true });
const result = await build({
  entryPoints: { app: join(here, 'src', 'main.ts') },
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['chrome110', 'firefox110', 'safari16'],
  minify: true,
  sourcemap: false,
  entryNames: '[name]-[hash]',
  outdir: join(outdir, 'assets'),
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning',
});
const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
const js = outputs.find((f) => f.endsWith('.js'));
const css = outputs.find((f) => f.endsWith('.css'));
if (!js || !css) throw new Error(`the dashboard build produced ${outputs.join(', ')}; expected one .js and one .css`);
const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Suture</title>
<link rel="stylesheet" href="/assets/${css}">
<script type="module" src="/assets/${js}"></script>
</head>
<body>
<div id="app"><noscript>The Suture dashboard needs JavaScript.</noscript></div>
</body>
</html>
`;
await mkdir(outdir, { recursive: true });
await writeFile(join(outdir, 'index.html'), html);
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
console.log(`dashboard built into ${outdir} (${outputs.join(', ')}; ${(bytes / 1024).toFixed(1)} KiB) in ${Date.now() - started} ms`);
