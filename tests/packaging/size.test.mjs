// The package size per entry point, measured on the installed tarball: the
// files each entry loads (followed from the entry through its relative
// imports, requires, `new URL(...)` and `${__dirname}/...` references;
// for the types, the .d.ts files index.d.ts imports), raw and gzip -9
// (each file compressed alone, as a server or app store sends it), and the
// tarball's packed and unpacked size. Prints a table for the
// release notes; asserts structure only (no size budget here).
//
//   node --test tests/packaging/size.test.mjs

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { dirname, join, relative } from 'node:path'
import { gzipSync } from 'node:zlib'

import { packAndInstall } from './consumer.mjs'

let c
const sizes = {} // entry -> [{ file, raw, gzip }]

/** The files an entry loads, as package-relative paths (entry first). */
async function closure(installed, entry) {
  const seen = new Set()
  const queue = [entry]
  while (queue.length) {
    const rel = queue.shift()
    if (seen.has(rel)) continue
    seen.add(rel)
    assert.ok(existsSync(join(installed, rel)), `${rel} is referenced but not shipped`)
    const declarations = rel.endsWith('.d.ts')
    if (!/\.(c|m)?js$/.test(rel) && !declarations) continue
    const text = await readFile(join(installed, rel), 'utf8')
    let refs = [
      ...[...text.matchAll(/(?:from\s*|import\s*\(\s*|require\s*\(\s*|new URL\s*\(\s*)['"](\.\.?\/[^'"]+)['"]/g)].map((m) => m[1]),
      ...[...text.matchAll(/\$\{__dirname\}\/([\w.-]+)/g)].map((m) => `./${m[1]}`),
    ]
    // In declarations, `from './x.js'` means ./x.d.ts.
    if (declarations) refs = refs.map((r) => r.replace(/\.js$/, '.d.ts'))
    for (const ref of refs) queue.push(relative(installed, join(installed, dirname(rel), ref)))
    // A package.json beside a CommonJS file decides how Node.js reads it.
    const typeFile = join(dirname(rel), 'package.json')
    if (rel.endsWith('.js') && dirname(rel) !== '.' && existsSync(join(installed, typeFile))) queue.push(typeFile)
  }
  return [...seen]
}

before(async () => {
  c = await packAndInstall('size')
})

after(async () => {
  if (c) await c.cleanup()
})

const ENTRIES = {
  // condition(s) in exports["."] -> entry files
  'node (import + require)': ['node/index.mjs', 'node/index.cjs'],
  'browser / default (web)': ['web/index.js'],
  'react-native': ['react-native/index.js'],
  'types': ['index.d.ts'],
}

test('the files of each entry point are shipped, non-empty, and as expected', async () => {
  const files = {}
  for (const [name, entries] of Object.entries(ENTRIES)) {
    const all = new Set()
    for (const e of entries) for (const f of await closure(c.installed, e)) all.add(f)
    files[name] = [...all].sort()
  }
  assert.deepEqual(files, {
    'node (import + require)': ['api.cjs', 'node/index.cjs', 'node/index.mjs', 'node/package.json', 'node/wallet_backup.js', 'node/wallet_backup_bg.wasm'],
    'browser / default (web)': ['api.js', 'web/index.js', 'web/wallet_backup.js', 'web/wallet_backup_bg.wasm'],
    'react-native': ['react-native/index.js'],
    'types': ['index.d.ts', 'types/wallet_backup.d.ts'],
  })
  for (const [name, list] of Object.entries(files)) {
    sizes[name] = []
    for (const file of list) {
      const bytes = await readFile(join(c.installed, file))
      assert.ok(bytes.length > 0, `${file} is empty`)
      sizes[name].push({ file, raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length })
    }
  }
})

test('react-native build uses no WebAssembly; the web build\'s wasm validates', async () => {
  const rn = await readFile(join(c.installed, 'react-native', 'index.js'), 'utf8')
  assert.doesNotMatch(rn, /WebAssembly\./, 'the react-native build uses WebAssembly, which Hermes does not have')
  assert.doesNotMatch(rn, /\.wasm\b/)
  const wasm = await readFile(join(c.installed, 'web', 'wallet_backup_bg.wasm'))
  assert.ok(WebAssembly.validate(wasm), 'web/wallet_backup_bg.wasm does not validate')
})

test('size per entry point (raw and gzip -9), and the tarball', () => {
  assert.ok(Object.keys(sizes).length === Object.keys(ENTRIES).length, 'the previous test did not measure')
  const kb = (n) => (n / 1024).toFixed(1).padStart(7)
  const lines = []
  const row = (a, b, raw, gz) => lines.push(`${a.padEnd(26)} ${b.padEnd(28)} ${kb(raw)} ${kb(gz)}`)
  lines.push(`${'entry point'.padEnd(26)} ${'file'.padEnd(28)} ${'raw KB'.padStart(7)} ${'gzip KB'.padStart(7)}`)
  for (const [name, list] of Object.entries(sizes)) {
    for (const f of list) row(name, f.file, f.raw, f.gzip)
    const js = list.filter((f) => /\.(c|m)?js$/.test(f.file))
    const wasm = list.filter((f) => f.file.endsWith('.wasm'))
    const sum = (xs, k) => xs.reduce((n, x) => n + x[k], 0)
    if (js.length && wasm.length) {
      row(name, '  js', sum(js, 'raw'), sum(js, 'gzip'))
      row(name, '  wasm', sum(wasm, 'raw'), sum(wasm, 'gzip'))
    }
    row(name, '= total', sum(list, 'raw'), sum(list, 'gzip'))
  }
  const { packInfo } = c
  lines.push(`tarball ${packInfo.filename}: ${kb(packInfo.size).trim()} KB packed, ${kb(packInfo.unpackedSize).trim()} KB unpacked, ${packInfo.entryCount} files`)
  console.log(lines.join('\n'))
  assert.ok(packInfo.size > 0 && packInfo.unpackedSize > packInfo.size)
})
