// Builds the bench-only wasm (cargo feature `bench`: benchArgon2id,
// benchAesGcmSeal/Open) into bench/out/wasm/{simd,mvp}/ with the same
// RUSTFLAGS, wasm-bindgen flags and wasm-opt flags as scripts/build.mjs, so
// the primitives run exactly as optimised as in pkg/. Never touches pkg/.
//
// Usage: node bench/build-wasm.mjs   (bench/run.mjs calls buildBenchWasm())
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, renameSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

export const root = join(dirname(fileURLToPath(import.meta.url)), '..')
export const benchWasmDir = join(root, 'bench', 'out', 'wasm')

// Must match scripts/build.mjs.
const WASM_FEATURES = [
  '--enable-bulk-memory', '--enable-mutable-globals', '--enable-nontrapping-float-to-int',
  '--enable-sign-ext', '--enable-reference-types', '--enable-multivalue',
]

function run(cmd, args, env = {}) {
  execFileSync(cmd, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, ...env } })
}

/** Checks that scripts/build.mjs still uses the flags copied above; warns otherwise. */
function checkFlagsInSync() {
  const build = readFileSync(join(root, 'scripts', 'build.mjs'), 'utf8')
  const missing = [...WASM_FEATURES, "'-O3'", '--remove-name-section'].filter((f) => !build.includes(f.replace(/'/g, '')))
  if (missing.length) console.warn(`bench: scripts/build.mjs no longer uses ${missing.join(', ')}; bench wasm flags may differ from pkg/`)
}

export function buildBenchWasm({ log = console.error } = {}) {
  checkFlagsInSync()
  const out = {}
  for (const variant of ['simd', 'mvp']) {
    const targetDir = join(root, 'target', `bench-wasm-${variant}`)
    log(`bench: cargo build (feature bench, ${variant})`)
    run('cargo', ['build', '--release', '--target', 'wasm32-unknown-unknown', '-p', 'wallet-backup', '--features', 'bench', '--target-dir', targetDir],
      { RUSTFLAGS: variant === 'simd' ? '-C target-feature=+simd128' : '', CARGO_ENCODED_RUSTFLAGS: '' })
    const wasm = join(targetDir, 'wasm32-unknown-unknown', 'release', 'wallet_backup.wasm')
    const dir = join(benchWasmDir, variant)
    const tmp = join(benchWasmDir, `${variant}.bindgen`)
    rmSync(tmp, { recursive: true, force: true })
    run('wasm-bindgen', ['--target', 'web', '--remove-name-section', '--remove-producers-section', '--out-dir', tmp, wasm])
    rmSync(dir, { recursive: true, force: true })
    mkdirSync(dir, { recursive: true })
    const flags = [...WASM_FEATURES, ...(variant === 'simd' ? ['--enable-simd'] : [])]
    run(join(root, 'node_modules', '.bin', 'wasm-opt'), ['-O3', '--strip-debug', '--strip-producers', ...flags, join(tmp, 'wallet_backup_bg.wasm'), '-o', join(dir, 'wallet_backup_bg.wasm')])
    renameSync(join(tmp, 'wallet_backup.js'), join(dir, 'wallet_backup.js'))
    rmSync(tmp, { recursive: true, force: true })
    out[variant] = dir
  }
  return out
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) buildBenchWasm()
