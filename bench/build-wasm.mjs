// Builds the bench-only wasm (cargo feature `bench`: benchArgon2id,
// benchAesGcmSeal/Open) into bench/out/wasm/<variant>/ with the toolchain
// settings of scripts/wasm-toolchain.mjs, the module that also builds pkg/.
// Never touches pkg/.
//
//   baseline  exactly the settings of the shipped build (pkg/), plus the feature.
//   simd      the same with +simd128 (rustc and wasm-opt). NOT shipped: kept so
//             the benchmark shows the measurement that dropped it (Argon2id runs
//             slower with it in V8).
//
// wasm-bindgen's `web` target (ES module glue, loadable from bytes) serves both
// Node.js and Chromium; it is not minified (the glue's size is not measured here).
//
// Usage: node bench/build-wasm.mjs   (bench/run.mjs calls buildBenchWasm())
import { execFileSync } from 'node:child_process'
import { mkdirSync, renameSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

import { bindgen, cargoBuildWasm, root, wasmOpt } from '../scripts/wasm-toolchain.mjs'

export { root }
export const benchWasmDir = join(root, 'bench', 'out', 'wasm')

/** Variant → options of the shared toolchain functions. */
export const VARIANTS = {
  baseline: { simd: false },
  simd: { simd: true },
}

/**
 * Number of SIMD instructions (v128.*, i64x2.*, …) in a wasm file, from
 * binaryen's disassembler. The build checks it, so the `simd` variant cannot
 * silently lose +simd128 (as when CARGO_ENCODED_RUSTFLAGS overrode RUSTFLAGS)
 * and the baseline cannot gain it.
 */
export function simdInstructionCount(wasmPath) {
  const text = execFileSync(join(root, 'node_modules', '.bin', 'wasm-dis'), [wasmPath], { encoding: 'utf8', maxBuffer: 256 << 20 })
  return text.match(/\((?:v128|[if](?:8x16|16x8|32x4|64x2))\.[a-z0-9_]+/g)?.length ?? 0
}

export function buildBenchWasm({ log = console.error } = {}) {
  const out = {}
  for (const [variant, { simd }] of Object.entries(VARIANTS)) {
    log(`bench: cargo build (feature bench, ${variant})`)
    const wasm = cargoBuildWasm({ targetDir: join(root, 'target', `bench-wasm-${variant}`), features: ['bench'], simd })
    const dir = join(benchWasmDir, variant)
    const tmp = join(benchWasmDir, `${variant}.bindgen`)
    bindgen(wasm, 'web', tmp)
    rmSync(dir, { recursive: true, force: true })
    mkdirSync(dir, { recursive: true })
    wasmOpt(join(tmp, 'wallet_backup_bg.wasm'), join(dir, 'wallet_backup_bg.wasm'), { simd })
    renameSync(join(tmp, 'wallet_backup.js'), join(dir, 'wallet_backup.js'))
    rmSync(tmp, { recursive: true, force: true })
    const n = simdInstructionCount(join(dir, 'wallet_backup_bg.wasm'))
    if (simd ? n === 0 : n > 0) throw new Error(`bench wasm ${variant}: ${n} SIMD instructions, expected ${simd ? 'some' : 'none'}`)
    log(`bench: ${variant}: ${n} SIMD instructions`)
    out[variant] = dir
  }
  // Leftover of the former layout (bench/out/wasm/mvp), so nothing stale is served.
  rmSync(join(benchWasmDir, 'mvp'), { recursive: true, force: true })
  return out
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) buildBenchWasm()
