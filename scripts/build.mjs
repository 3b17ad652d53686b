// Builds the npm package into pkg/: two wasm builds (baseline and SIMD),
// wasm-bindgen glue for browsers (ES module) and Node.js (CommonJS),
// wasm-opt, the entry points, the types and package.json.
//
// Usage: node scripts/build.mjs [--dev]   (--dev skips wasm-opt)
import { execFileSync } from 'node:child_process'
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const pkg = join(root, 'pkg')
const dev = process.argv.includes('--dev')
const run = (cmd, args, env = {}) =>
  execFileSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } })
// Our RUSTFLAGS must win: cargo ignores RUSTFLAGS when CARGO_ENCODED_RUSTFLAGS is set at all.
delete process.env.CARGO_ENCODED_RUSTFLAGS

const WASM_FEATURES = [
  '--enable-bulk-memory', '--enable-mutable-globals', '--enable-nontrapping-float-to-int',
  '--enable-sign-ext', '--enable-reference-types', '--enable-multivalue',
]

/** cargo build of the wasm crate; returns the path of the .wasm. */
function cargoBuild(variant) {
  const targetDir = join(root, 'target', variant === 'simd' ? 'wasm-simd' : 'wasm-mvp')
  // SHA-256 only hashes a few hundred bytes per backup (HKDF, checksum,
  // digest): its compact software backend saves ~3 KB gzip over the unrolled one.
  const cfgs = '--cfg sha2_backend="soft" --cfg sha2_backend_soft="compact"'
  const rustflags = variant === 'simd' ? `-C target-feature=+simd128 ${cfgs}` : cfgs
  run('cargo', ['build', '--release', '--target', 'wasm32-unknown-unknown', '-p', 'wallet-backup', '--target-dir', targetDir],
    { RUSTFLAGS: rustflags })
  return join(targetDir, 'wasm32-unknown-unknown', 'release', 'wallet_backup.wasm')
}

function bindgen(wasm, target, outDir) {
  rmSync(outDir, { recursive: true, force: true })
  run('wasm-bindgen', ['--target', target, '--remove-name-section', '--remove-producers-section', '--out-dir', outDir, wasm])
}

function optimize(input, output, simd) {
  if (dev) return cpSync(input, output)
  const flags = [...WASM_FEATURES, ...(simd ? ['--enable-simd'] : [])]
  run(join(root, 'node_modules', '.bin', 'wasm-opt'), ['-O3', '--strip-debug', '--strip-producers', ...flags, input, '-o', output])
}

const mvpWasm = cargoBuild('mvp')
const simdWasm = cargoBuild('simd')
const gen = join(root, 'target', 'bindgen')
bindgen(mvpWasm, 'web', join(gen, 'web-mvp'))
bindgen(simdWasm, 'web', join(gen, 'web-simd'))
bindgen(simdWasm, 'nodejs', join(gen, 'node-simd'))

// One glue file serves both browser builds: they must import and export the same names.
const glueMvp = readFileSync(join(gen, 'web-mvp', 'wallet_backup.js'), 'utf8')
const glueSimd = readFileSync(join(gen, 'web-simd', 'wallet_backup.js'), 'utf8')
if (glueMvp !== glueSimd) throw new Error('baseline and SIMD builds produced different glue; cannot share it')

rmSync(pkg, { recursive: true, force: true })
for (const d of ['web', 'node', 'types']) mkdirSync(join(pkg, d), { recursive: true })

// Browser: shared glue (minified: it is generated code and counts in every
// page's download), two binaries, the SIMD-detecting entry.
run(join(root, 'node_modules', '.bin', 'esbuild'), [join(gen, 'web-mvp', 'wallet_backup.js'), '--minify', '--format=esm',
  '--log-level=warning', `--outfile=${join(pkg, 'web', 'wallet_backup.js')}`])
optimize(join(gen, 'web-mvp', 'wallet_backup_bg.wasm'), join(pkg, 'web', 'wallet_backup_bg.wasm'), false)
optimize(join(gen, 'web-simd', 'wallet_backup_bg.wasm'), join(pkg, 'web', 'wallet_backup_simd_bg.wasm'), true)
cpSync(join(root, 'js', 'web-entry.js'), join(pkg, 'web', 'index.js'))

// Node.js: CommonJS glue with the SIMD binary, and CJS + ESM entries over it.
cpSync(join(gen, 'node-simd', 'wallet_backup.js'), join(pkg, 'node', 'wallet_backup.js'))
optimize(join(gen, 'node-simd', 'wallet_backup_bg.wasm'), join(pkg, 'node', 'wallet_backup_bg.wasm'), true)
cpSync(join(root, 'js', 'node-entry.cjs'), join(pkg, 'node', 'index.cjs'))
cpSync(join(root, 'js', 'node-entry.mjs'), join(pkg, 'node', 'index.mjs'))
// The wasm-bindgen glue is CommonJS in a `.js` file: mark the folder as CommonJS.
writeFileSync(join(pkg, 'node', 'package.json'), '{ "type": "commonjs" }\n')

// The shared JS layer (constants, Portal): the ES module as is, and a CommonJS copy for require().
cpSync(join(root, 'js', 'api.mjs'), join(pkg, 'api.js'))
run(join(root, 'node_modules', '.bin', 'esbuild'), [join(root, 'js', 'api.mjs'), '--format=cjs', '--log-level=warning', `--outfile=${join(pkg, 'api.cjs')}`])

// Types: the generated declarations (without the browser-only init functions) and the index.
cpSync(join(gen, 'node-simd', 'wallet_backup.d.ts'), join(pkg, 'types', 'wallet_backup.d.ts'))
cpSync(join(root, 'js', 'index.d.ts'), join(pkg, 'index.d.ts'))

const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).packageVersion ?? '0.1.0'
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
  files: ['index.d.ts', 'node/package.json', 'api.js', 'api.cjs', 'types/', 'web/', 'node/', 'README.md', 'FORMAT.md'],
  engines: { node: '>=16.4' },
}
writeFileSync(join(pkg, 'package.json'), JSON.stringify(manifest, null, 2) + '\n')
cpSync(join(root, 'README.md'), join(pkg, 'README.md'))
cpSync(join(root, 'FORMAT.md'), join(pkg, 'FORMAT.md'))
console.log('built pkg/')
