// Browser side of the benchmark, loaded by bench/run.mjs into headless
// Chromium through page.evaluate(). Same measurement code as Node.js
// (./measure.js); only the module loading differs.
import { runSuite } from './measure.js'

/**
 * One cold-start sample; run.mjs calls it once per fresh browser context.
 * The glue is imported and the wasm bytes fetched into an ArrayBuffer first
 * (not timed); then either the glue's init({ module_or_path: bytes }) until it
 * resolves (instance usable, start function run) or, as the reference,
 * WebAssembly.compile(bytes) alone.
 */
export async function startOnce({ glueUrl, wasmUrl, mode }) {
  const glue = await import(glueUrl)
  const bytes = await (await fetch(wasmUrl)).arrayBuffer()
  let t0, t1
  let firstCallMs
  if (mode === 'init') {
    t0 = performance.now()
    await glue.default({ module_or_path: bytes })
    t1 = performance.now()
    if (typeof glue.backupWallet !== 'function') throw new Error('glue has no backupWallet after init')
    // Secondary figure: engines compile function bodies lazily, so the first
    // call into wasm pays for what it touches. Probe: a call the module
    // rejects at argument validation (no key derivation).
    await firstCall(glue)
    firstCallMs = performance.now() - t0
  } else {
    t0 = performance.now()
    await WebAssembly.compile(bytes)
    t1 = performance.now()
  }
  return { ms: t1 - t0, firstCallMs, crossOriginIsolated: globalThis.crossOriginIsolated === true }
}

/** backupWallet with an invalid method: settles (rejects) after argument validation. */
export async function firstCall(api) {
  try {
    await api.backupWallet(5, null, {})
  } catch {
    // expected: INVALID_ARGUMENT
  }
}

/** The in-engine suite (Portal, Argon2id, AES-GCM) in this page. */
export async function runBrowserSuite(cfg) {
  const wasm = {}
  for (const [name, { glueUrl, wasmUrl }] of Object.entries(cfg.benchWasm)) {
    const m = await import(glueUrl)
    await m.default({ module_or_path: await (await fetch(wasmUrl)).arrayBuffer() })
    wasm[name] = m
  }
  const { argon2id } = await import(cfg.hashWasmUrl)
  const { Portal } = await import(cfg.webEntryUrl)
  // benchNative: exposed by run.mjs (page.exposeFunction), forwards to the native bench process.
  const native = typeof globalThis.benchNative === 'function' ? (line) => globalThis.benchNative(line) : undefined
  const out = await runSuite({ wasm, hashWasmArgon2id: argon2id, Portal, subtle: crypto.subtle, native }, cfg)
  out.crossOriginIsolated = globalThis.crossOriginIsolated === true
  return out
}
