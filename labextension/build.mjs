// Builds the page client into ../jupyter_bridge/static/:
//   client-HASH.js, client-HASH.css, assets/ (fonts), require-HASH.js, pages-HASH.js
//   (the index's and error pages' script), manifest.json, third-party-licenses.json
//   (the bundled npm packages and their licences).
// The server reads manifest.json to link the hashed files from its pages.

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const outdir = join(here, '..', 'jupyter_bridge', 'static');

const pageSources = join(here, 'src', 'page');

// A stand-in is a module of ours that a library's import is pointed at. esbuild
// takes a module's settings (the "type" of its package.json, which decides how
// it imports CommonJS) from whichever import reaches it first, and a plugin's
// answer carries none: now and then (2 builds in 490) the library's import came
// first and the stand-in compiled differently. So our own imports of a stand-in
// go through the plugin too, and every build compiles it alike.
function isOwnImport(args) {
  return args.importer.startsWith(pageSources);
}

// The widget manager imports sanitize-html for descriptions with
// description_allow_html; src/page/sanitize.ts stands in for it there and loads
// the real one (with its HTML and CSS parsers) on first use.
const lazySanitizer = {
  name: 'lazy-sanitizer',
  setup(build) {
    const standIn = join(pageSources, 'sanitize.ts');
    build.onResolve({ filter: /^(sanitize-html|\.\/sanitize)$/ }, (args) => {
      const pointed =
        args.path === 'sanitize-html' ? /[\\/]@jupyter-widgets[\\/]base-manager[\\/]/.test(args.importer) : isOwnImport(args);
      return pointed ? { path: standIn } : undefined;
    });
  },
};

// @jupyter-widgets/base imports lodash's isEqual as CommonJS: 89 modules, each
// wrapped in a function the page compiles and calls as it starts. The same
// version's ES modules (lodash-es) are bundled as plain code instead.
const lodashAsModules = {
  name: 'lodash-as-modules',
  setup(build) {
    const modules = join(here, 'node_modules', 'lodash-es');
    build.onResolve({ filter: /^lodash\/[A-Za-z]+$/ }, (args) => ({ path: join(modules, `${args.path.slice('lodash/'.length)}.js`) }));
  },
};

// The Output widget's stylesheet is imported by index.ts: esbuild would put it
// in a CSS file of the Output chunk, which nothing loads.
const outputCssInEntry = {
  name: 'output-css-in-entry',
  setup(build) {
    build.onResolve({ filter: /^\.\.\/css\/output\.css$/ }, (args) =>
      /[\\/]html-manager[\\/]lib[\\/]output\.js$/.test(args.importer) ? { path: 'output.css', namespace: 'empty-css' } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'empty-css' }, () => ({ contents: '', loader: 'css' }));
  },
};

// @lumino/widgets ships one ES module whose TypeScript namespaces no bundler can
// tree-shake: every page carried all of Lumino's widgets (dock panels, menus,
// command palettes, and @lumino/commands for them), 139 kB of the 570 kB a page
// evaluates before it draws. Its package also ships its TypeScript sources, one
// module a widget: those are bundled instead, as free of side effects, so a page
// carries the widgets the controls use (Widget, Panel, TabBar, their layouts).
// The page shares no Lumino with widget libraries (modules.ts, federated.ts):
// they bring their own. The sources compile as Lumino's own build compiles them,
// not with our tsconfig.json: its verbatimModuleSyntax would keep the imports
// they make for types alone, and with them packages no widget of a page runs
// (@lumino/virtualdom, for Title's icon type).
const LUMINO_COMPILER_OPTIONS = { target: 'es2020', strict: true, useDefineForClassFields: false };
const luminoWidgetsSources = {
  name: 'lumino-widgets-sources',
  setup(build) {
    const sources = join(here, 'node_modules', '@lumino', 'widgets', 'src');
    const index = join(sources, 'index.ts');
    if (!existsSync(index)) {
      throw new Error(`${index} is missing: this @lumino/widgets no longer ships its sources; drop the lumino-widgets-sources plugin`);
    }
    build.onResolve({ filter: /^@lumino\/widgets$/ }, () => ({ path: index, sideEffects: false }));
    build.onResolve({ filter: /^\.\// }, (args) =>
      args.importer.startsWith(sources) ? { path: join(sources, `${args.path.slice(2)}.ts`), sideEffects: false } : undefined,
    );
    build.onLoad({ filter: /\.ts$/ }, async (args) => {
      if (!args.path.startsWith(sources)) {
        return undefined;
      }
      const { code } = await esbuild.transform(await readFile(args.path, 'utf8'), {
        loader: 'ts',
        sourcefile: args.path,
        tsconfigRaw: { compilerOptions: LUMINO_COMPILER_OPTIONS },
      });
      return { contents: code, loader: 'js', resolveDir: sources };
    });
  },
};

// Backbone and ipywidgets import jQuery for views' `$el` alone; src/page/jquery.ts
// stands in for it there and loads it with the first widget library (which may use it).
const jqueryOnDemand = {
  name: 'jquery-on-demand',
  setup(build) {
    const standIn = join(pageSources, 'jquery.ts');
    build.onResolve({ filter: /^(jquery|\.\/jquery)$/ }, (args) => {
      const pointed = args.path === 'jquery' ? args.importer !== standIn : isOwnImport(args);
      return pointed ? { path: standIn } : undefined;
    });
  },
};

// The standalone build is one script: the on-demand parts are bundled in.
const eager = {
  name: 'eager',
  setup(build) {
    build.onResolve({ filter: /^\.\/(lazy|load-app)$/ }, () => ({ path: join(here, 'src', 'page', 'eager.ts') }));
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

// KaTeX lists each font in woff2, woff and ttf: only the woff2 one is referenced and copied.
const katexWoff2Only = {
  name: 'katex-woff2-only',
  setup(build) {
    build.onLoad({ filter: /katex[\\/]dist[\\/]katex\.min\.css$/ }, async (args) => {
      const css = await readFile(args.path, 'utf8');
      let count = 0;
      const contents = css.replace(/(url\([^)]+\.woff2\) format\("woff2"\)),url\([^)]+\.woff\) format\("woff"\),url\([^)]+\.ttf\) format\("truetype"\)/g, (_, woff2) => {
        count += 1;
        return woff2;
      });
      if (count === 0) {
        throw new Error(`no @font-face sources rewritten in ${args.path}: has its layout changed?`);
      }
      return { contents, loader: 'css', resolveDir: dirname(args.path) };
    });
  },
};

// Packages the page does not need; finding one in the bundle means an import went wrong.
const UNWANTED =
  /node_modules[\\/](ajv|@jupyter-widgets[\\/](base7|controls7)|@jupyter-widgets[\\/]html-manager[\\/]lib[\\/](libembed|embed|htmlmanager))/;
// Packages only some pages need: they must stay out of the code a page loads up front
// (with the controls src/page/controls.ts leaves out, and the code only they use).
const ON_DEMAND = new RegExp(
  [
    /node_modules[\\/](jquery[\\/]|@jupyterlab[\\/](rendermime|outputarea|services)|sanitize-html|postcss|katex[\\/]dist[\\/][^/]*\.m?js)/,
    /@jupyter-widgets[\\/]controls[\\/]lib[\\/](index|widget_(color|date|datetime|time|controller|selectioncontainer|tagsinput|upload))\.js/,
    /node_modules[\\/](@lumino[\\/]dragdrop|@lumino[\\/]widgets[\\/]src[\\/]tabbar\.ts|d3-color)/,
  ]
    .map((pattern) => pattern.source)
    .join('|'),
);
/** The entry point of the chunk holding the whole of the controls, which pages load when they need it. */
const ALL_CONTROLS = 'node_modules/@jupyter-widgets/controls/lib/index.js';

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

/** What both builds share. */
function options(requireFile) {
  return {
    absWorkingDir: here,
    outdir,
    entryNames: '[name]-[hash]',
    chunkNames: 'chunk-[hash]',
    assetNames: 'assets/[name]-[hash]',
    bundle: true,
    minify: true,
    target: 'es2020',
    // Every TypeScript file compiles with our tsconfig.json, found by no lookup: esbuild
    // looks one up only for files its own resolver finds, and plugins find the stand-ins
    // (jquery.ts, sanitize.ts) and Lumino's sources. Without it they compiled with
    // esbuild's defaults (no "use strict", class fields defined rather than assigned),
    // the stand-ins only when a library's import reached them first: two builds of one
    // tree differed about one time in eight.
    tsconfig: join(here, 'tsconfig.json'),
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
    plugins: [lazySanitizer, jqueryOnDemand, lodashAsModules, outputCssInEntry, woff2Only, katexWoff2Only, luminoWidgetsSources],
    metafile: true,
    logLevel: 'warning',
  };
}

/**
 * The stylesheets pages load only when needed (src/page/styles.ts): Font Awesome's
 * icons once a page is interactive, KaTeX's with its first math. The server names
 * them in the page's config.
 */
async function buildStyles() {
  const { metafile } = await esbuild.build({
    ...options(''),
    entryPoints: { icons: 'src/page/icons.css', math: 'src/page/math.css' },
  });
  const [icons] = entryOutput(metafile, 'src/page/icons.css');
  const [math] = entryOutput(metafile, 'src/page/math.css');
  return { metafile, files: { 'icons.css': fileName(icons), 'math.css': fileName(math) } };
}

/**
 * The page client of served pages: an ES module whose Output widget and HTML
 * sanitizer are chunks loaded on demand, so a page of controls parses half the code.
 */
async function buildClient(requireFile) {
  const { metafile } = await esbuild.build({
    ...options(requireFile),
    entryPoints: { client: 'src/page/index.ts' },
    format: 'esm',
    splitting: true,
  });
  const outputs = metafile.outputs;
  const [entry, output] = entryOutput(metafile, 'src/page/index.ts');
  // The page preloads what it needs up front: the chunks the entry imports
  // statically, and the widgets' code (app.ts), which the small entry imports
  // once it has opened the socket, with everything that imports statically.
  const upFront = loadedWith(outputs, entry, { dynamicImportsToo: true });
  check(metafile, UNWANTED, 'the page client pulls in files it must not');
  check({ outputs: Object.fromEntries(upFront.map((path) => [path, outputs[path]])) }, ON_DEMAND,
    'the page client loads up front files meant to load on demand');
  // The Output chunk's stylesheet is empty (outputCssInEntry); nothing would load another.
  for (const [path, out] of Object.entries(outputs)) {
    if (path.endsWith('.css') && path !== output.cssBundle) {
      if (out.bytes > 0) {
        throw new Error(`${path}: a chunk's stylesheet is never loaded; import its CSS from src/page/index.ts`);
      }
      await rm(join(here, path));
    }
  }
  return {
    metafile,
    files: {
      'client.js': fileName(entry),
      'client.css': fileName(output.cssBundle),
      'client.imports': upFront.slice(1).map(fileName),
      ...(await controlsOnDemand(requireFile, outputs, upFront)),
    },
  };
}

/**
 * What the server needs to preload the chunk of the controls src/page/controls.ts
 * leaves out, for a page whose widgets name one: the files to preload beside
 * the client's own, and the names found only in that chunk.
 */
async function controlsOnDemand(requireFile, outputs, upFront) {
  const [chunk, all] = Object.entries(outputs).find(([, out]) => out.entryPoint === ALL_CONTROLS) ?? [];
  if (chunk === undefined) {
    throw new Error(`no chunk of ${ALL_CONTROLS}: src/page/lazy.ts should import it on demand`);
  }
  const files = loadedWith(outputs, chunk);
  // The names controls.ts exports, from a bundle of it alone (its exports are all re-exports).
  const { metafile } = await esbuild.build({
    ...options(requireFile),
    entryPoints: { controls: 'src/page/controls.ts' },
    format: 'esm',
    write: false,
  });
  const bundled = new Set(Object.values(metafile.outputs).find((out) => out.entryPoint === 'src/page/controls.ts').exports);
  return {
    'controls.imports': files.filter((path) => !upFront.includes(path)).map(fileName),
    'controls.names': all.exports.filter((name) => !bundled.has(name)).sort(),
  };
}

/**
 * The chunks the browser loads with `first`: it and what it imports statically,
 * directly or not, in the order found; `dynamicImportsToo`: also what `first`
 * itself imports dynamically, with theirs.
 */
function loadedWith(outputs, first, { dynamicImportsToo = false } = {}) {
  const found = [first];
  for (const path of found) {
    for (const imported of outputs[path].imports) {
      const loaded = imported.kind === 'import-statement' || (dynamicImportsToo && path === first && imported.kind === 'dynamic-import');
      if (loaded && !found.includes(imported.path)) {
        found.push(imported.path);
      }
    }
  }
  return found;
}

/** One classic script holding everything, inlined into pages that `jupyter-bridge html` writes. */
async function buildStandalone(requireFile) {
  const base = options(requireFile);
  const { metafile } = await esbuild.build({
    ...base,
    entryPoints: { standalone: 'src/page/index.ts' },
    format: 'iife',
    // A classic script finds its address in document.currentScript instead.
    define: { ...base.define, 'import.meta.url': 'undefined' },
    plugins: [eager, ...base.plugins],
  });
  check(metafile, UNWANTED, 'the standalone page client pulls in files it must not');
  const [entry, output] = entryOutput(metafile, 'src/page/index.ts');
  // Its stylesheet is the page client's: the two builds import the same CSS.
  await rm(join(here, output.cssBundle));
  await rm(join(here, `${output.cssBundle}.LEGAL.txt`), { force: true });
  return { metafile, files: { 'standalone.js': fileName(entry) } };
}

/** The server's own pages' script (index search, development reloads): a small classic script. */
async function buildPages(requireFile) {
  const { metafile } = await esbuild.build({
    ...options(requireFile),
    entryPoints: { pages: 'src/page/pages.ts' },
    format: 'iife',
    plugins: [],
  });
  const [entry] = entryOutput(metafile, 'src/page/pages.ts');
  return { metafile, files: { 'pages.js': fileName(entry) } };
}

/**
 * The output of an entry point: [its path, its metafile entry]. A script's
 * stylesheet (client-HASH.css) names the same entry point: a script's is its script.
 */
function entryOutput(metafile, entryPoint) {
  return Object.entries(metafile.outputs).find(
    ([path, out]) => out.entryPoint === entryPoint && (entryPoint.endsWith('.css') || path.endsWith('.js')),
  );
}

/** An output's name inside jupyter_bridge/static/ (metafile paths are relative to here). */
function fileName(path) {
  return relative(outdir, join(here, path));
}

function check(metafile, pattern, problem) {
  const found = Object.values(metafile.outputs).flatMap((output) =>
    Object.entries(output.inputs)
      .filter(([path, input]) => input.bytesInOutput > 0 && pattern.test(path))
      .map(([path]) => path),
  );
  if (found.length > 0) {
    throw new Error(`${problem}:\n  ${found.join('\n  ')}`);
  }
}

/**
 * The npm packages bundled into the outputs, with their licences, as third-party-licenses.json
 * (the layout JupyterLab's extension builder writes): the wheel carries it next to the code.
 */
async function writeLicenses(metafiles) {
  const roots = new Set([join('node_modules', 'requirejs')]);
  for (const metafile of metafiles) {
    for (const output of Object.values(metafile.outputs)) {
      for (const [path, input] of Object.entries(output.inputs)) {
        const root = packageRoot(path);
        if (root !== null && input.bytesInOutput > 0) {
          roots.add(root);
        }
      }
    }
  }
  const packages = [];
  for (const root of roots) {
    const data = JSON.parse(await readFile(join(here, root, 'package.json'), 'utf8'));
    const files = (await readdir(join(here, root))).filter((name) => /^(licen[cs]e|copying|notice)/i.test(name)).sort();
    const texts = await Promise.all(files.map((name) => readFile(join(here, root, name), 'utf8')));
    packages.push({
      name: data.name,
      versionInfo: data.version,
      licenseId: typeof data.license === 'string' ? data.license : (data.license?.type ?? 'UNKNOWN'),
      // A package without a licence file keeps its notice in the bundle (legalComments).
      extractedText: texts.join('\n'),
    });
  }
  packages.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  await writeFile(join(outdir, 'third-party-licenses.json'), `${JSON.stringify({ packages }, null, 2)}\n`);
  return packages.length;
}

/** The folder of the npm package a metafile input path belongs to, or null for our own sources. */
function packageRoot(path) {
  const parts = path.split(/[\\/]/);
  const at = parts.lastIndexOf('node_modules');
  if (at < 0) {
    return null;
  }
  const size = parts[at + 1].startsWith('@') ? 2 : 1;
  return parts.slice(0, at + 1 + size).join('/');
}

async function main() {
  await rm(outdir, { recursive: true, force: true });
  await mkdir(outdir, { recursive: true });
  const requireFile = await buildRequire();
  const client = await buildClient(requireFile);
  const styles = await buildStyles();
  const standalone = await buildStandalone(requireFile);
  const pages = await buildPages(requireFile);
  const manifest = { ...client.files, ...styles.files, ...standalone.files, ...pages.files, 'require.js': requireFile };
  await writeFile(join(outdir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  const bundled = await writeLicenses([client.metafile, styles.metafile, standalone.metafile, pages.metafile]);
  if (process.argv.includes('--analyze')) {
    console.log(await esbuild.analyzeMetafile(client.metafile, { verbose: false }));
  }
  const files = Object.entries(manifest).flatMap(([key, value]) => (key === 'controls.names' ? [] : value));
  for (const file of files) {
    const bytes = await readFile(join(outdir, file));
    console.log(`${file.padEnd(24)} ${kb(bytes.length)} (${kb(gzipSync(bytes).length)} gzip)`);
  }
  console.log(`third-party-licenses.json: ${bundled} bundled npm packages`);
}

function kb(size) {
  return `${(size / 1024).toFixed(1).padStart(7)} KiB`;
}

await main();
