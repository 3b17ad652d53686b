// Builds the npm package into pkg/: one wasm build, wasm-bindgen glue for
// browsers (ES module) and Node.js (CommonJS), wasm-opt, the entry points,
// the types and package.json; and the React Native build (Hermes has no
// WebAssembly): an MVP wasm build turned into JavaScript by wasm2js, built
// in parallel with the first.
//
// Usage: node scripts/build.mjs [--dev]   (--dev skips wasm-opt)
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import * as esbuildApi from 'esbuild'

import { bindgen, buildMvpToJs, cargoBuildWasm, lowerToEs5, root, run, wasmOptMinified } from './wasm-toolchain.mjs'

const pkg = join(root, 'pkg')
const dev = process.argv.includes('--dev')
const esbuild = join(root, 'node_modules', '.bin', 'esbuild')

// The React Native build's wasm steps (cargo for the MVP, which rebuilds
// std; wasm-bindgen; wasm2js) run in a child process beside the main build.
const rnGen = join(root, 'target', 'bindgen', 'rn')
const rnBuilt = buildMvpToJs({ targetDir: join(root, 'target', 'wasm-mvp'), outDir: rnGen })
rnBuilt.catch(() => {}) // awaited below
const wasm = cargoBuildWasm({ targetDir: join(root, 'target', 'wasm-release') })
const gen = join(root, 'target', 'bindgen')
bindgen(wasm, 'web', join(gen, 'web'))
bindgen(wasm, 'nodejs', join(gen, 'node'))

rmSync(pkg, { recursive: true, force: true })
for (const d of ['web', 'node', 'types', 'react-native']) mkdirSync(join(pkg, d), { recursive: true })

// One wasm for the browser and Node.js: wasm-opt -Oz, with short import and
// export names written into both glues (wasm-bindgen makes the same wasm for
// both targets).
const webWasm = join(pkg, 'web', 'wallet_backup_bg.wasm')
const glues = [join(gen, 'web', 'wallet_backup.js'), join(gen, 'node', 'wallet_backup.js')]
if (dev) cpSync(join(gen, 'web', 'wallet_backup_bg.wasm'), webWasm)
else wasmOptMinified(join(gen, 'web', 'wallet_backup_bg.wasm'), webWasm, glues)
cpSync(webWasm, join(pkg, 'node', 'wallet_backup_bg.wasm'))

// Browser: the glue (minified: it is generated code and counts in every
// page's download), the wasm, and the entry that initialises it.
run(esbuild, [glues[0], '--minify', '--format=esm', '--log-level=warning', `--outfile=${join(pkg, 'web', 'wallet_backup.js')}`])
cpSync(join(root, 'js', 'web-entry.js'), join(pkg, 'web', 'index.js'))

// Node.js: CommonJS glue (minified like the browser's) loading the same
// wasm, and CJS + ESM entries over it.
run(esbuild, [glues[1], '--minify', '--format=cjs', '--platform=node', '--log-level=warning',
  `--outfile=${join(pkg, 'node', 'wallet_backup.js')}`])
cpSync(join(root, 'js', 'node-entry.cjs'), join(pkg, 'node', 'index.cjs'))
cpSync(join(root, 'js', 'node-entry.mjs'), join(pkg, 'node', 'index.mjs'))
// The wasm-bindgen glue is CommonJS in a `.js` file: mark the folder as CommonJS.
writeFileSync(join(pkg, 'node', 'package.json'), '{ "type": "commonjs" }\n')

// The shared JS layer (constants, Portal): the ES module as is, and a CommonJS copy for require().
cpSync(join(root, 'js', 'api.mjs'), join(pkg, 'api.js'))
run(esbuild, [join(root, 'js', 'api.mjs'), '--format=cjs', '--log-level=warning', `--outfile=${join(pkg, 'api.cjs')}`])

// `wallet-backup/react-native-libsodium`: the deriveKey adapter, ES module and CommonJS, and its types.
cpSync(join(root, 'js', 'react-native-libsodium.js'), join(pkg, 'react-native-libsodium.js'))
run(esbuild, [join(root, 'js', 'react-native-libsodium.js'), '--format=cjs', '--log-level=warning', `--outfile=${join(pkg, 'react-native-libsodium.cjs')}`])
const adapterTypes = readFileSync(join(root, 'js', 'react-native-libsodium.d.ts'), 'utf8')
writeFileSync(join(pkg, 'react-native-libsodium.d.ts'), adapterTypes)
writeFileSync(join(pkg, 'react-native-libsodium.d.cts'), adapterTypes.replace("from './index.js'", "from './index.cjs'"))

// React Native: the MVP build, wasm-bindgen's bundler glue with its memory
// views fixed, wasm2js, and one ES2016 file without class syntax.
await buildReactNative(await rnBuilt, join(pkg, 'react-native', 'index.js'))

// Types: the generated declarations (without the browser-only init functions) and the index,
// once as ES module declarations (.d.ts, the package is "type": "module") and once as CommonJS
// ones (.d.cts) for `require` under TypeScript's node16/nodenext resolution, which otherwise
// refuses to let a CommonJS file import the ES module types (TS1479). Same text, the .d.cts
// files referring to each other.
const generatedTypes = readFileSync(join(gen, 'node', 'wallet_backup.d.ts'), 'utf8')
const indexTypes = readFileSync(join(root, 'js', 'index.d.ts'), 'utf8')
const reexport = "export * from './types/wallet_backup.js'"
if (!indexTypes.includes(reexport)) throw new Error(`js/index.d.ts: no \`${reexport}\``)
writeFileSync(join(pkg, 'types', 'wallet_backup.d.ts'), generatedTypes)
writeFileSync(join(pkg, 'types', 'wallet_backup.d.cts'), generatedTypes.replaceAll("import('../index.js')", "import('../index.cjs')"))
writeFileSync(join(pkg, 'index.d.ts'), indexTypes)
writeFileSync(join(pkg, 'index.d.cts'), indexTypes.replace(reexport, "export * from './types/wallet_backup.cjs'"))

// The package version is the workspace's.
const version = readFileSync(join(root, 'Cargo.toml'), 'utf8').match(/\[workspace\.package\][^[]*?\nversion = "([^"]+)"/)?.[1]
if (!version) throw new Error('no [workspace.package] version in Cargo.toml')
const manifest = {
  name: 'wallet-backup',
  version,
  description: "Backup and recovery of an MPC wallet's key share, encrypted inside WebAssembly",
  license: '(MIT OR Apache-2.0)',
  type: 'module',
  main: './node/index.cjs',
  module: './web/index.js',
  // Metro without package exports support reads this field.
  'react-native': './react-native/index.js',
  types: './index.d.ts',
  // The entries start the wasm at their top level (web/index.js awaits init()), so a bundler must
  // keep them even when only re-exported names are used (`import { backupWallet }`): with
  // `sideEffects: false` Vite, Rollup and webpack skip web/index.js and the wasm is never set up.
  // Everything else (the glue, api.js) stays free to be tree-shaken.
  sideEffects: ['./web/index.js', './node/index.mjs', './node/index.cjs', './react-native/index.js'],
  // `types` in each condition, first: ES module declarations for `import`, CommonJS ones for
  // Node.js `require` (TypeScript's node16 resolution in a CommonJS project).
  exports: {
    '.': {
      'react-native': { types: './index.d.ts', default: './react-native/index.js' },
      node: {
        import: { types: './index.d.ts', default: './node/index.mjs' },
        require: { types: './index.d.cts', default: './node/index.cjs' },
      },
      browser: { types: './index.d.ts', default: './web/index.js' },
      default: { types: './index.d.ts', default: './web/index.js' },
    },
    // React Native's deriveKey over react-native-libsodium (js/react-native-libsodium.js): a
    // subpath of its own, so that only apps that import it bundle it.
    './react-native-libsodium': {
      'react-native': { types: './react-native-libsodium.d.ts', default: './react-native-libsodium.js' },
      import: { types: './react-native-libsodium.d.ts', default: './react-native-libsodium.js' },
      require: { types: './react-native-libsodium.d.cts', default: './react-native-libsodium.cjs' },
      default: { types: './react-native-libsodium.d.ts', default: './react-native-libsodium.js' },
    },
    './package.json': './package.json',
  },
  files: ['index.d.ts', 'index.d.cts', 'api.js', 'api.cjs', 'react-native-libsodium.js', 'react-native-libsodium.cjs',
    'react-native-libsodium.d.ts', 'react-native-libsodium.d.cts', 'types/', 'web/', 'node/', 'react-native/', 'README.md', 'FORMAT.md', 'LICENSE-MIT', 'LICENSE-APACHE'],
  // What the tests run on (the workspace's package.json says the same).
  engines: { node: '>=20' },
}
writeFileSync(join(pkg, 'package.json'), JSON.stringify(manifest, null, 2) + '\n')
// The package's own README (the registry page), not the repository's.
cpSync(join(root, 'npm', 'README.md'), join(pkg, 'README.md'))
cpSync(join(root, 'FORMAT.md'), join(pkg, 'FORMAT.md'))
for (const license of ['LICENSE-MIT', 'LICENSE-APACHE']) cpSync(join(root, license), join(pkg, license))
console.log('built pkg/')

/**
 * The React Native bundle from the MVP build's glue and wasm2js output in
 * `out`. wasm-bindgen's glue
 * refreshes its Uint8Array view of the memory only once the old buffer is
 * detached (byteLength 0); wasm2js never detaches it, so after memory grows
 * the glue would read the old, stale buffer: refresh whenever the buffer
 * is not the memory's current one. Hermes (0.12, and Hermes without
 * Metro's Babel) has no class syntax and no TextEncoder/TextDecoder: the
 * JS sources are lowered to ES5 by TypeScript's transpiler (the wasm2js
 * output already is ES5) and esbuild injects a small UTF-8 codec.
 */
async function buildReactNative(out, bundle) {
  const gluePath = join(out, 'wallet_backup_bg.js')
  let glue = readFileSync(gluePath, 'utf8')
  const stale = /(cachedUint8ArrayMemory0) === null \|\| \1\.byteLength === 0/g
  if ((glue.match(stale) ?? []).length !== 1) throw new Error('wasm-bindgen glue: the Uint8Array memory view check was not found')
  glue = glue.replace(stale, '$1 === null || $1.buffer !== wasm.memory.buffer')
  if (/byteLength === 0/.test(glue)) throw new Error('wasm-bindgen glue: another memory view checks byteLength === 0')
  writeFileSync(gluePath, glue)

  const entry = join(root, 'js', 'react-native-entry.js')
  const es5 = {
    name: 'lower-to-es5',
    setup(build) {
      // The entry's glue imports are the generated files.
      build.onResolve({ filter: /^\.\/wallet_backup_bg(\.wasm)?\.js$/ }, (args) => ({ path: join(out, args.path.slice(2)) }))
      build.onLoad({ filter: /\.m?js$/ }, async (args) => {
        const source = readFileSync(args.path, 'utf8')
        // wasm2js's output is ES5 already (and large).
        if (args.path.endsWith('.wasm.js')) return { contents: source, loader: 'js' }
        return { contents: await lowerToEs5(source, args.path), loader: 'js' }
      })
    },
  }
  await esbuildApi.build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    target: 'es2016',
    minify: true,
    legalComments: 'none',
    inject: [join(root, 'js', 'react-native-text.js')],
    plugins: [es5],
    outfile: bundle,
    logLevel: 'warning',
  })
}
