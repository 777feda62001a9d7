// Builds the page client into ../jupyter_bridge/static/:
//   client-HASH.js, client-HASH.css, assets/ (fonts), require-HASH.js, manifest.json.
// The server reads manifest.json to link the hashed files from its pages.

import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const outdir = join(here, '..', 'jupyter_bridge', 'static');

// html-manager loads the ipywidgets 7 packages (and their CSS, which would
// override the 8.x styles) with require() when a widget asks for them. Keep
// them out of the bundle: such a widget gets an error widget instead.
const ipywidgets7 = {
  name: 'ipywidgets7',
  setup(build) {
    build.onResolve({ filter: /^@jupyter-widgets\/(base7|controls7)(\/|$)/ }, (args) => ({
      path: args.path,
      namespace: 'ipywidgets7',
    }));
    build.onLoad({ filter: /.*/, namespace: 'ipywidgets7' }, () => ({
      contents: `throw new Error(${JSON.stringify(
        'This widget was made with ipywidgets 7, which jupyter_bridge does not support: upgrade it to ipywidgets 8.',
      )});`,
      loader: 'js',
    }));
  },
};

// Font Awesome lists each font in five formats; every browser that runs this
// bundle uses the woff2 one, so only that is referenced and copied.
const woff2Only = {
  name: 'woff2-only',
  setup(build) {
    build.onLoad({ filter: /fontawesome-free[\\/]css[\\/]all\.min\.css$/ }, async (args) => {
      const css = await readFile(args.path, 'utf8');
      let count = 0;
      const contents = css.replace(/src:url\(([^)]+)\.eot\);src:[^;}]*/g, (_, font) => {
        count += 1;
        return `src:url(${font}.woff2) format("woff2")`;
      });
      if (count === 0) {
        throw new Error(`no @font-face sources rewritten in ${args.path}: has its layout changed?`);
      }
      return { contents, loader: 'css', resolveDir: dirname(args.path) };
    });
  },
};

// Packages the page does not need; finding one in the bundle means an import went wrong.
const UNWANTED = /node_modules[\\/](ajv|@jupyter-widgets[\\/](base7|controls7)|@jupyter-widgets[\\/]html-manager[\\/]lib[\\/](libembed|embed))/;

function shortHash(bytes) {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 8);
}

async function buildRequire() {
  const source = await readFile(join(here, 'node_modules', 'requirejs', 'require.js'), 'utf8');
  // No format: the script must keep defining the globals requirejs, require and define.
  const { code } = await esbuild.transform(source, { minify: true, target: 'es2020', legalComments: 'inline' });
  const file = `require-${shortHash(code)}.js`;
  await writeFile(join(outdir, file), code);
  return file;
}

async function buildClient(requireFile) {
  const result = await esbuild.build({
    absWorkingDir: here,
    entryPoints: { client: 'src/page/index.ts' },
    outdir,
    entryNames: '[name]-[hash]',
    assetNames: 'assets/[name]-[hash]',
    bundle: true,
    minify: true,
    format: 'iife',
    target: 'es2020',
    sourcemap: false,
    // Licence notices go to a .LEGAL.txt file next to each output, not into the bundle.
    legalComments: 'linked',
    loader: { '.woff2': 'file', '.woff': 'file', '.ttf': 'file', '.eot': 'file', '.svg': 'file' },
    define: {
      // Bundled UMD libraries (Backbone, jQuery, ...) must not register with the
      // page's AMD loader; modules.ts reaches it as window.define.
      define: 'undefined',
      'process.env.NODE_ENV': '"production"',
      REQUIRE_JS_FILE: JSON.stringify(requireFile),
    },
    plugins: [ipywidgets7, woff2Only],
    metafile: true,
    logLevel: 'warning',
  });
  const bundled = Object.values(result.metafile.outputs).flatMap((output) =>
    Object.entries(output.inputs).filter(([, input]) => input.bytesInOutput > 0).map(([path]) => path),
  );
  const unwanted = bundled.filter((path) => UNWANTED.test(path));
  if (unwanted.length > 0) {
    throw new Error(`the bundle pulls in files it must not:\n  ${unwanted.join('\n  ')}`);
  }
  return result.metafile;
}

/** The entry's JS file and the CSS file esbuild gathered from its imports. */
function clientFiles(metafile) {
  const [js, output] = Object.entries(metafile.outputs).find(([, out]) => out.entryPoint !== undefined);
  const name = (path) => relative(outdir, join(here, path));
  return { 'client.js': name(js), 'client.css': name(output.cssBundle) };
}

async function main() {
  await rm(outdir, { recursive: true, force: true });
  await mkdir(outdir, { recursive: true });
  const requireFile = await buildRequire();
  const metafile = await buildClient(requireFile);
  const manifest = { ...clientFiles(metafile), 'require.js': requireFile };
  await writeFile(join(outdir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  if (process.argv.includes('--analyze')) {
    console.log(await esbuild.analyzeMetafile(metafile, { verbose: false }));
  }
  for (const file of Object.values(manifest)) {
    const bytes = await readFile(join(outdir, file));
    console.log(`${file.padEnd(24)} ${kb(bytes.length)} (${kb(gzipSync(bytes).length)} gzip)`);
  }
}

function kb(size) {
  return `${(size / 1024).toFixed(1).padStart(7)} KiB`;
}

await main();
