// Section 1 of the bench: the size of the production pkg/ files (raw, gzip -9), the one shipped
// wasm build with its web and Node.js glue; for information, the bench-feature builds.
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { gzipSync } from 'node:zlib'
import { simdInstructionCount } from '../build-wasm.mjs'
import { TARGETS, WASM_VARIANTS, benchWasmFiles, kb, met, pkg, ratio, root, shippedWasm, table } from '../common.mjs'

const gz = (buf) => gzipSync(buf, { level: 9 }).length

/** JS files statically reachable from an entry (relative import/export/require only). */
function jsClosure(entry) {
  const seen = new Set()
  const visit = (file) => {
    if (seen.has(file) || !existsSync(file)) return
    seen.add(file)
    const src = readFileSync(file, 'utf8')
    const specs = [
      ...src.matchAll(/\b(?:import|export)\s[^'"]*?from\s*['"](\.{1,2}\/[^'"]+)['"]/g),
      ...src.matchAll(/\bimport\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g),
      ...src.matchAll(/\brequire\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g),
    ].map((m) => m[1])
    for (const s of specs) if (/\.(c|m)?js$/.test(s)) visit(resolve(dirname(file), s))
  }
  visit(entry)
  return [...seen]
}

function fileSize(path) {
  const buf = readFileSync(path)
  return { path: relative(root, path), raw: buf.length, gzip: gz(buf) }
}

export function measureSizes() {
  const webDir = join(pkg, 'web')
  const nodeDir = join(pkg, 'node')
  const webEntry = join(webDir, 'index.js')
  const nodeEntries = [join(nodeDir, 'index.mjs'), join(nodeDir, 'index.cjs')]
  const webGlue = join(webDir, 'wallet_backup.js')
  const nodeGlue = join(nodeDir, 'wallet_backup.js')
  const webJs = jsClosure(webEntry)
  const nodeJs = [...new Set(nodeEntries.flatMap(jsClosure))]
  // node/package.json ({"type":"commonjs"}) is read by Node to load the glue.
  const nodeExtra = existsSync(join(nodeDir, 'package.json')) ? [join(nodeDir, 'package.json')] : []
  const entry = (name, wasmPath, glue, js, extra = []) => {
    const wasm = fileSize(wasmPath)
    const g = fileSize(glue)
    const rest = [...js.filter((f) => f !== glue), ...extra].map(fileSize)
    return {
      name, wasm, glue: g, entryFiles: rest,
      wasmGlueGzip: wasm.gzip + g.gzip,
      wasmGlueRaw: wasm.raw + g.raw,
      totalGzip: wasm.gzip + g.gzip + rest.reduce((s, f) => s + f.gzip, 0),
      totalRaw: wasm.raw + g.raw + rest.reduce((s, f) => s + f.raw, 0),
    }
  }
  const webWasm = shippedWasm(webDir)
  const nodeWasm = shippedWasm(nodeDir)
  return {
    entries: [
      entry('web (pkg/web: wasm + minified ES module glue)', webWasm, webGlue, webJs),
      entry('node (pkg/node: wasm + CommonJS glue)', nodeWasm, nodeGlue, nodeJs, nodeExtra),
    ],
    sameWasm: readFileSync(webWasm).equals(readFileSync(nodeWasm)),
    // Info: the bench-feature builds (they carry the bench exports, so are a little larger than pkg/).
    bench: Object.fromEntries(WASM_VARIANTS.map((v) => {
      const f = benchWasmFiles(v).wasm
      return [v, { ...fileSize(f), simdInstructions: simdInstructionCount(f) }]
    })),
  }
}

/** The section's Markdown lines. */
export function sizesReport(r) {
  const L = []
  const { t, head } = table(L)
  L.push('## 1. Size of pkg/: the one shipped wasm build (gzip -9; KB = 1000 B)', '')
  head('Entry point', 'wasm raw', 'wasm gzip', 'glue raw', 'glue gzip', 'Value: wasm + glue gzip', 'Reference: budget', 'Ratio', 'Target', 'Met', '+ entry JS gzip (total)')
  for (const e of r.sizes.entries) {
    const entryGz = e.totalGzip - e.wasmGlueGzip
    t(e.name, kb(e.wasm.raw), kb(e.wasm.gzip), kb(e.glue.raw), kb(e.glue.gzip), `**${kb(e.wasmGlueGzip)}**`, `${TARGETS.sizeGzipKB} KB`,
      ratio(e.wasmGlueGzip / 1000 / TARGETS.sizeGzipKB), `≤ ${TARGETS.sizeGzipKB} KB`, met(e.wasmGlueGzip <= TARGETS.sizeGzipKB * 1000),
      `+${kb(entryGz)} (${kb(e.totalGzip)}; ${e.entryFiles.map((f) => f.path.replace(/^pkg\//, '')).join(', ')})`)
  }
  const bw = r.sizes.bench
  L.push('', `pkg/web/wallet_backup_bg.wasm and pkg/node/wallet_backup_bg.wasm are ${r.sizes.sameWasm ? 'the same bytes' : '**different bytes**'}; the target counts wasm + glue, the last column adds the entry-point JS. ` +
    `Info, the bench-feature builds of sections 4–5 (with the bench exports): shipped settings ${kb(bw.baseline.raw)} raw / ${kb(bw.baseline.gzip)} gzip, ${bw.baseline.simdInstructions} SIMD instructions; ` +
    `+simd128 (not shipped) ${kb(bw.simd.raw)} raw / ${kb(bw.simd.gzip)} gzip, ${bw.simd.simdInstructions} SIMD instructions.`, '')

  return L
}

/** The size target. */
export function sizesTarget(r) {
  const largest = Math.max(...r.sizes.entries.map((e) => e.wasmGlueGzip))
  return { name: `wasm + glue ≤ ${TARGETS.sizeGzipKB} KB gzip (web and node)`, ok: largest <= TARGETS.sizeGzipKB * 1000, detail: r.sizes.entries.map((e) => `${e.name.split(' ')[0]} ${kb(e.wasmGlueGzip)}`).join(', ') }
}
