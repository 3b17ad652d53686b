// Node.js side of the benchmark: run by bench/run.mjs in a fresh process,
// prints one JSON object on stdout. Config: JSON in argv[2].
// Same measurement code as the browser (bench/page/measure.js).
import { readFileSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { argon2id } from 'hash-wasm'
import { runSuite } from './page/measure.js'
import { startNative } from './native-client.mjs'

const cfg = JSON.parse(process.argv[2])
const wasm = {}
for (const [name, { gluePath, wasmPath }] of Object.entries(cfg.benchWasm)) {
  const m = await import(pathToFileURL(gluePath).href)
  await m.default({ module_or_path: readFileSync(wasmPath) })
  wasm[name] = m
}
const { Portal } = await import(pathToFileURL(cfg.nodeEntryPath).href)
const native = startNative(cfg.nativeBin)
let out
try {
  out = await runSuite({ wasm, hashWasmArgon2id: argon2id, Portal, subtle: globalThis.crypto.subtle, native: native.request }, cfg)
} finally {
  await native.close()
}
process.stdout.write(JSON.stringify(out) + '\n')
