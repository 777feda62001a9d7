// Compiles the JupyterLab extension (src/lab/) into lib/lab/index.js, the entry
// point package.json names. `jupyter-builder build .` (see the build:lab script)
// then bundles it with JupyterLab's shared packages into ../jupyter_bridge/labextension/.
// Every imported package stays external: JupyterLab provides them at run time.
// `node build-lab.mjs --watch` recompiles on every change (package.json's watch:lab).

import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const outdir = join(here, 'lib', 'lab');

const options = {
  absWorkingDir: here,
  entryPoints: { index: 'src/lab/index.ts' },
  outdir,
  bundle: true,
  packages: 'external',
  format: 'esm',
  target: 'es2020',
  logLevel: 'warning',
};

await rm(outdir, { recursive: true, force: true });
if (process.argv.includes('--watch')) {
  // Recompiles on every change to src/lab/; `jupyter-builder watch` rebundles from lib/lab/.
  const context = await esbuild.context({ ...options, logLevel: 'info' });
  await context.watch();
} else {
  await esbuild.build(options);
}
