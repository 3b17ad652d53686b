// How this project compiles its wasm: the one place that holds the cargo,
// RUSTFLAGS, wasm-bindgen and wasm-opt settings, shared by scripts/build.mjs
// (pkg/) and bench/build-wasm.mjs (bench-only builds), so both stay equal.
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, rmSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const root = join(dirname(fileURLToPath(import.meta.url)), '..')

/** Features of the wasm the module is built for (wasm-opt must be told). */
export const WASM_OPT_FEATURES = [
  '--enable-bulk-memory', '--enable-mutable-globals', '--enable-nontrapping-float-to-int',
  '--enable-sign-ext', '--enable-reference-types', '--enable-multivalue',
]

export function run(cmd, args, env = {}) {
  execFileSync(cmd, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, ...env } })
}

/**
 * RUSTFLAGS of a wasm build.
 * - SHA-256 hashes a few hundred bytes per backup (HKDF, checksum, digest):
 *   its compact software backend is ~3 KB gzip smaller than the unrolled one.
 * - Panic locations name source files: map the build machine's paths away.
 * - `simd`: +simd128, for the benchmark's comparison only. Measured here it
 *   makes Argon2id slower (V8 lowers i64x2.mul to several instructions), so
 *   the package ships the baseline build.
 */
export function rustflags({ simd = false } = {}) {
  const flags = ['--cfg', 'sha2_backend="soft"', '--cfg', 'sha2_backend_soft="compact"']
  const registry = join(process.env.CARGO_HOME ?? join(homedir(), '.cargo'), 'registry', 'src')
  if (existsSync(registry)) {
    for (const index of readdirSync(registry)) flags.push(`--remap-path-prefix=${join(registry, index)}=crates`)
  }
  flags.push(`--remap-path-prefix=${root}=wallet-backup`)
  if (simd) flags.unshift('-C', 'target-feature=+simd128')
  return flags.join(' ')
}

/** `cargo build --release` of the wasm crate; returns the .wasm path. */
export function cargoBuildWasm({ targetDir, features = [], simd = false }) {
  const env = { ...process.env, RUSTFLAGS: rustflags({ simd }) }
  // cargo ignores RUSTFLAGS whenever CARGO_ENCODED_RUSTFLAGS is set, even empty.
  delete env.CARGO_ENCODED_RUSTFLAGS
  const args = ['build', '--release', '--target', 'wasm32-unknown-unknown', '-p', 'wallet-backup', '--target-dir', targetDir]
  if (features.length) args.push('--features', features.join(','))
  execFileSync('cargo', args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], env })
  return join(targetDir, 'wasm32-unknown-unknown', 'release', 'wallet_backup.wasm')
}

/** wasm-bindgen for one JS target (`web`, `nodejs`, `bundler`) into `outDir`. */
export function bindgen(wasm, target, outDir) {
  rmSync(outDir, { recursive: true, force: true })
  // The web entry always passes the wasm's URL, so the glue needs no default path.
  const omit = target === 'web' ? ['--omit-default-module-path'] : []
  run('wasm-bindgen', ['--target', target, ...omit, '--remove-name-section', '--remove-producers-section', '--out-dir', outDir, wasm])
}

/**
 * wasm-opt -Oz. LLVM already optimised Argon2id's loop at opt-level 3;
 * measured here, -Oz leaves its speed unchanged and saves ~150 B gzip over -O3.
 */
export function wasmOpt(input, output, { simd = false } = {}) {
  const flags = [...WASM_OPT_FEATURES, ...(simd ? ['--enable-simd'] : [])]
  run(join(root, 'node_modules', '.bin', 'wasm-opt'), ['-Oz', '--strip-debug', '--strip-producers', ...flags, input, '-o', output])
}
