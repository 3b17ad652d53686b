// Section 2 of the bench: bytes-to-usable start time of the shipped build, in a fresh Node.js
// process (bench/node-start.mjs) and a fresh Chromium context per sample.
import { join } from 'node:path'
import { summary } from '../page/measure.js'
import { START_RUNS, TARGETS, lastJson, met, ms, pkg, ratio, root, runChild, shippedWasm, spread, table } from '../common.mjs'

export async function nodeStart() {
  const entry = join(pkg, 'node', 'index.cjs')
  const wasm = shippedWasm(join(pkg, 'node'))
  const script = join(root, 'bench', 'node-start.mjs')
  const res = { entry: [], firstCall: [], compile: [], hit: true }
  // Warm the OS file cache and Node's own startup once (not recorded).
  await runChild(process.execPath, [script, 'entry', entry, wasm])
  for (let i = 0; i < START_RUNS; i++) {
    const e = lastJson(await runChild(process.execPath, [script, 'entry', entry, wasm]))
    const c = lastJson(await runChild(process.execPath, [script, 'compile', wasm]))
    res.entry.push(e.ms)
    res.firstCall.push(e.firstCallMs)
    res.compile.push(c.ms)
    res.hit &&= e.hit
  }
  return { entry: summary(res.entry), firstCall: summary(res.firstCall), compile: summary(res.compile), wasmBytesStubbed: res.hit }
}

/** `browser`: playwright's, `base`: the bench page server's origin. */
export async function chromiumStart(browser, base) {
  // The shipped build, loaded the way pkg/web/index.js loads it (its minified glue).
  shippedWasm(join(pkg, 'web'))
  const urls = { glueUrl: '/pkg/web/wallet_backup.js', wasmUrl: '/pkg/web/wallet_backup_bg.wasm' }
  const plan = ['init', 'compile']
  const samples = { init: [], compile: [], firstCall: [] }
  let isolated = true
  const once = async (mode) => {
    const ctx = await browser.newContext()
    try {
      const page = await ctx.newPage()
      await page.goto(`${base}/bench/page/index.html`)
      const r = await page.evaluate(async (args) => (await import('/bench/page/browser.js')).startOnce(args), { ...urls, mode })
      isolated &&= r.crossOriginIsolated
      return r
    } finally {
      await ctx.close()
    }
  }
  for (const m of plan) await once(m) // warm-up (browser process, HTTP server, disk cache)
  for (let i = 0; i < START_RUNS; i++) {
    for (const m of plan) {
      const r = await once(m)
      samples[m].push(r.ms)
      if (m === 'init') samples.firstCall.push(r.firstCallMs)
    }
  }
  return { ...Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summary(v)])), crossOriginIsolated: isolated }
}

/** The section's Markdown lines. */
export function startReport(r) {
  const L = []
  const { t, head } = table(L)
  L.push('## 2. Start time of the shipped build, wasm bytes already in memory → usable', '')
  head('Env', 'What is timed', 'Value (median)', 'p10–p90', 'Reference', 'Ratio', 'Target', 'Met', 'Info: + first wasm call')
  const ns = r.nodeStart
  t('Node', `fresh process: \`require('pkg/node/index.cjs')\` with the wasm bytes pre-read (fs.readFileSync stubbed${ns.wasmBytesStubbed ? '' : ' — NOT hit, includes file read'}): glue+entry JS, compile, instantiate, start`,
    `**${ms(ns.entry.median)}**`, spread(ns.entry), `\`new WebAssembly.Module(bytes)\` alone: ${ms(ns.compile.median)}`, ratio(ns.entry.median / ns.compile.median), '—', '', ms(ns.firstCall.median))
  const cs = r.chromiumStart
  t('Chromium', 'fresh context: pkg/web glue `init({ module_or_path: arrayBuffer })` of pkg/web/wallet_backup_bg.wasm',
    `**${ms(cs.init.median)}**`, spread(cs.init), `\`WebAssembly.compile(bytes)\` alone: ${ms(cs.compile.median)}`,
    ratio(cs.init.median / cs.compile.median), `≤ ${TARGETS.chromiumStartMs} ms`, met(cs.init.median <= TARGETS.chromiumStartMs), ms(cs.firstCall.median))
  L.push('', '"+ first wasm call": the same clock until a first call into wasm settles (`backupWallet` with an invalid method, rejected at argument validation); engines compile function bodies lazily, so this shows what the first call adds.', '')

  return L
}

/** The Chromium start target. */
export function startTarget(r) {
  return { name: `Chromium start ≤ ${TARGETS.chromiumStartMs} ms median`, ok: r.chromiumStart.init.median <= TARGETS.chromiumStartMs, detail: ms(r.chromiumStart.init.median) }
}
