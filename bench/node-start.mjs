// One Node.js cold-start sample, in a fresh process (bench/run.mjs spawns it
// once per sample). Prints JSON { ms, firstCallMs, hit } on stdout.
//
//   node bench/node-start.mjs entry   <entry.cjs> <wasm>
//     The wasm bytes are read first (not timed) and handed to the glue by
//     stubbing fs.readFileSync for that one path; then the time of
//     require(entry) until it returns — glue and entry JS parsed and run,
//     wasm compiled and instantiated, start function run: the package usable.
//   node bench/node-start.mjs compile <wasm>
//     Reference: new WebAssembly.Module(bytes) alone (what the glue does
//     synchronously), same fresh-process conditions.
import fs from 'node:fs'
import { createRequire } from 'node:module'
import { resolve } from 'node:path'

const [mode, a, b] = process.argv.slice(2)
const require = createRequire(import.meta.url)
let ms
let firstCallMs
let hit = false
if (mode === 'entry') {
  const entry = resolve(a)
  const wasmPath = resolve(b)
  const bytes = fs.readFileSync(wasmPath)
  const readFileSync = fs.readFileSync
  fs.readFileSync = function (p, ...rest) {
    if (typeof p === 'string' && resolve(p) === wasmPath) {
      hit = true
      return bytes
    }
    return readFileSync.call(this, p, ...rest)
  }
  const t0 = performance.now()
  const api = require(entry)
  ms = performance.now() - t0
  // Secondary figure: + the first call into wasm (functions compile lazily):
  // backupWallet with an invalid method, rejected at argument validation.
  try {
    await api.backupWallet(5, null, {})
  } catch {
    // expected: INVALID_ARGUMENT
  }
  firstCallMs = performance.now() - t0
  fs.readFileSync = readFileSync
  if (typeof api.Portal !== 'function') throw new Error('entry exports no Portal')
} else if (mode === 'compile') {
  const bytes = fs.readFileSync(resolve(a))
  const t0 = performance.now()
  const module = new WebAssembly.Module(bytes)
  ms = performance.now() - t0
  hit = module instanceof WebAssembly.Module
} else {
  throw new Error(`unknown mode ${mode}`)
}
process.stdout.write(JSON.stringify({ ms, firstCallMs, hit }) + '\n')
