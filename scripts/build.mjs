// Builds the npm package into pkg/: one wasm build, wasm-bindgen glue for
// browsers (ES module) and Node.js (CommonJS), wasm-opt, the entry points,
// the types and package.json.
//
// Usage: node scripts/build.mjs [--dev]   (--dev skips wasm-opt)
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { bindgen, cargoBuildWasm, root, run, wasmOpt } from './wasm-toolchain.mjs'

const pkg = join(root, 'pkg')
const dev = process.argv.includes('--dev')
const esbuild = join(root, 'node_modules', '.bin', 'esbuild')
const optimize = (input, output) => (dev ? cpSync(input, output) : wasmOpt(input, output))

const wasm = cargoBuildWasm({ targetDir: join(root, 'target', 'wasm-release') })
const gen = join(root, 'target', 'bindgen')
bindgen(wasm, 'web', join(gen, 'web'))
bindgen(wasm, 'nodejs', join(gen, 'node'))

rmSync(pkg, { recursive: true, force: true })
for (const d of ['web', 'node', 'types']) mkdirSync(join(pkg, d), { recursive: true })

// Browser: the glue (minified: it is generated code and counts in every
// page's download), the wasm, and the entry that initialises it.
run(esbuild, [join(gen, 'web', 'wallet_backup.js'), '--minify', '--format=esm', '--log-level=warning',
  `--outfile=${join(pkg, 'web', 'wallet_backup.js')}`])
optimize(join(gen, 'web', 'wallet_backup_bg.wasm'), join(pkg, 'web', 'wallet_backup_bg.wasm'))
cpSync(join(root, 'js', 'web-entry.js'), join(pkg, 'web', 'index.js'))

// Node.js: CommonJS glue (minified like the browser's) loading the same
// wasm, and CJS + ESM entries over it.
run(esbuild, [join(gen, 'node', 'wallet_backup.js'), '--minify', '--format=cjs', '--platform=node', '--log-level=warning',
  `--outfile=${join(pkg, 'node', 'wallet_backup.js')}`])
optimize(join(gen, 'node', 'wallet_backup_bg.wasm'), join(pkg, 'node', 'wallet_backup_bg.wasm'))
cpSync(join(root, 'js', 'node-entry.cjs'), join(pkg, 'node', 'index.cjs'))
cpSync(join(root, 'js', 'node-entry.mjs'), join(pkg, 'node', 'index.mjs'))
// The wasm-bindgen glue is CommonJS in a `.js` file: mark the folder as CommonJS.
writeFileSync(join(pkg, 'node', 'package.json'), '{ "type": "commonjs" }\n')

// The shared JS layer (constants, Portal): the ES module as is, and a CommonJS copy for require().
cpSync(join(root, 'js', 'api.mjs'), join(pkg, 'api.js'))
run(esbuild, [join(root, 'js', 'api.mjs'), '--format=cjs', '--log-level=warning', `--outfile=${join(pkg, 'api.cjs')}`])

// Types: the generated declarations (without the browser-only init functions) and the index.
cpSync(join(gen, 'node', 'wallet_backup.d.ts'), join(pkg, 'types', 'wallet_backup.d.ts'))
cpSync(join(root, 'js', 'index.d.ts'), join(pkg, 'index.d.ts'))

// The package version is the workspace's.
const version = readFileSync(join(root, 'Cargo.toml'), 'utf8').match(/\[workspace\.package\][^[]*?\nversion = "([^"]+)"/)?.[1]
if (!version) throw new Error('no [workspace.package] version in Cargo.toml')
const manifest = {
  name: 'wallet-backup',
  version,
  description: "Backup and recovery of an MPC wallet's key share, encrypted inside WebAssembly",
  license: 'MIT OR Apache-2.0',
  type: 'module',
  main: './node/index.cjs',
  module: './web/index.js',
  types: './index.d.ts',
  sideEffects: false,
  exports: {
    '.': {
      types: './index.d.ts',
      node: { import: './node/index.mjs', require: './node/index.cjs' },
      browser: './web/index.js',
      default: './web/index.js',
    },
    './package.json': './package.json',
  },
  files: ['index.d.ts', 'api.js', 'api.cjs', 'types/', 'web/', 'node/', 'README.md', 'FORMAT.md'],
  engines: { node: '>=16' },
}
writeFileSync(join(pkg, 'package.json'), JSON.stringify(manifest, null, 2) + '\n')
cpSync(join(root, 'README.md'), join(pkg, 'README.md'))
cpSync(join(root, 'FORMAT.md'), join(pkg, 'FORMAT.md'))
console.log('built pkg/')
