// The npm package as users get it: `npm pack` of pkg/, installed into a
// fresh consumer, used from ESM, CommonJS, a bundler and TypeScript.
//
//   node --test tests/packaging/packaging.test.mjs
//
// Needs the built package in pkg/ (`node scripts/build.mjs`) and the dev
// dependencies (typescript, esbuild). Installs a local tarball only: no
// network.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { cp, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const PKG = join(ROOT, 'pkg')
const TS_CONSUMER = join(ROOT, 'tests', 'ts-consumer')
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm'

let tmp // temp root
let consumer // the consumer project with the tarball installed
let installed // consumer/node_modules/wallet-backup
let packInfo // npm pack --json output for the tarball

function run(cmd, args, options = {}) {
  return new Promise((resolve) => {
    execFile(cmd, args, { maxBuffer: 64 << 20, timeout: 120_000, ...options }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr, error })
    })
  })
}

async function runOk(cmd, args, options) {
  const r = await run(cmd, args, options)
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')} failed (${r.code}):\n${r.stdout}\n${r.stderr}`)
  return r
}

/** Runs a script file with node in the consumer directory and returns its stdout. */
async function node(file, source) {
  await writeFile(join(consumer, file), source)
  const r = await runOk(process.execPath, [file], { cwd: consumer })
  return r.stdout
}

/** Every file below `dir`, as paths relative to it. */
async function walk(dir, prefix = '') {
  const out = []
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const rel = prefix + entry.name
    if (entry.isDirectory()) out.push(...(await walk(join(dir, entry.name), rel + '/')))
    else out.push(rel)
  }
  return out
}

before(async () => {
  assert.ok(existsSync(join(PKG, 'package.json')), 'pkg/ is missing: run `node scripts/build.mjs` first')
  tmp = await mkdtemp(join(tmpdir(), 'wallet-backup-packaging-'))
  const packDir = join(tmp, 'pack')
  consumer = join(tmp, 'consumer')
  await mkdir(packDir, { recursive: true })
  await mkdir(consumer, { recursive: true })
  const packed = await runOk(NPM, ['pack', '--json', '--pack-destination', packDir], { cwd: PKG })
  ;[packInfo] = JSON.parse(packed.stdout)
  packInfo.tarball = join(packDir, packInfo.filename)
  await writeFile(join(consumer, 'package.json'), JSON.stringify({ name: 'wallet-backup-consumer', private: true, type: 'module' }, null, 2))
  await runOk(NPM, ['install', '--no-audit', '--no-fund', '--loglevel=error', packInfo.tarball], { cwd: consumer })
  installed = join(consumer, 'node_modules', 'wallet-backup')
})

after(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true })
})

const ROUND_TRIP = `
  let shares = '{"secp256k1":{"id":"w1","share":"deadbeef"}}'
  const original = shares
  let record = null
  const keychain = { async getShares() { return shares }, async setShares(s) { shares = s } }
  const custodian = { async read() { return record }, async write(r) { record = r } }
  const portal = new Portal({ keychain, custodian })
  const statuses = []
  const cipherText = await portal.backupWallet(BackupMethods.Password, (e) => statuses.push(e.status), { passwordStorage: { password: 'pw' } })
  if (!cipherText.startsWith('wbk1.')) throw new Error('bad cipherText')
  shares = ''
  await portal.recoverWallet(cipherText, BackupMethods.Password, null, { passwordStorage: { password: 'pw' } })
  if (shares !== original) throw new Error('shares not restored')
  if (statuses.at(-1) !== MpcStatuses.Done) throw new Error('no Done: ' + statuses)
  let code
  try { await portal.recoverWallet(cipherText, 'password', null, { passwordStorage: { password: 'wrong' } }) } catch (e) { code = e.code }
  if (code !== 'WRONG_PASSWORD') throw new Error('wrong-password code ' + code)
`

test('tarball: size and contents (both web wasm builds, no .rs files, no source maps)', async (t) => {
  const files = packInfo.files.map((f) => f.path).sort()
  t.diagnostic(`tarball ${packInfo.filename}: ${packInfo.size} bytes packed, ${packInfo.unpackedSize} bytes unpacked, ${files.length} files`)
  for (const f of packInfo.files) t.diagnostic(`  ${String(f.size).padStart(7)}  ${f.path}`)
  const tarSize = (await stat(packInfo.tarball)).size
  assert.equal(tarSize, packInfo.size)
  assert.ok(tarSize < 1_000_000, `tarball is ${tarSize} bytes`)

  for (const required of [
    'package.json',
    'LICENSE-MIT',
    'LICENSE-APACHE',
    'index.d.ts',
    'index.d.cts',
    'types/wallet_backup.d.ts',
    'types/wallet_backup.d.cts',
    'api.js',
    'api.cjs',
    'node/package.json',
    'node/index.mjs',
    'node/index.cjs',
    'node/wallet_backup.js',
    'node/wallet_backup_bg.wasm',
    'web/index.js',
    'web/wallet_backup.js',
    'web/wallet_backup_bg.wasm',
  ]) {
    assert.ok(files.includes(required), `${required} missing from the tarball`)
  }
  assert.deepEqual(files.filter((f) => f.endsWith('.rs')), [], 'Rust sources in the tarball')
  assert.deepEqual(files.filter((f) => f.endsWith('.map')), [], 'source maps in the tarball')
  assert.deepEqual(files.filter((f) => /(^|\/)(src|core|target|tests?)\//.test(f) || f.endsWith('.toml') || f.endsWith('.lock')), [], 'build inputs in the tarball')

  // The installed copy matches; the binaries are WebAssembly; nothing points to a source map.
  assert.deepEqual((await walk(installed)).sort(), files)
  for (const f of files) {
    const bytes = await readFile(join(installed, f))
    const text = bytes.toString('latin1')
    if (f.endsWith('.wasm')) {
      assert.ok(bytes.subarray(0, 4).equals(Buffer.from([0, 0x61, 0x73, 0x6d])), `${f} is not WebAssembly`)
      assert.ok(bytes.length > 10_000, `${f} is suspiciously small`)
      assert.ok(WebAssembly.validate(bytes), `${f} does not validate`)
    }
    assert.ok(!/sourceMappingURL/.test(text), `${f} points to a source map`)
  }
  const [web, node] = await Promise.all(['web/wallet_backup_bg.wasm', 'node/wallet_backup_bg.wasm'].map((f) => readFile(join(installed, f))))
  assert.ok(web.equals(node), 'the browser and Node.js entries ship different wasm builds')

  // The licenses (package.json says "(MIT OR Apache-2.0)"): the repository's texts, as shipped.
  for (const license of ['LICENSE-MIT', 'LICENSE-APACHE']) {
    const shipped = await readFile(join(installed, license), 'utf8')
    assert.equal(shipped, await readFile(join(ROOT, license), 'utf8'), `${license} differs from the repository's`)
  }
  assert.match(await readFile(join(installed, 'LICENSE-MIT'), 'utf8'), /^MIT License\n\nCopyright \(c\) wallet-backup contributors\n/)
  assert.match(await readFile(join(installed, 'LICENSE-APACHE'), 'utf8'), /Apache License\s+Version 2\.0, January 2004/)
})

test("README.md in the tarball is the package's own (npm/README.md), with no repository set-up and no link that leads nowhere inside the package", async () => {
  const readme = await readFile(join(installed, 'README.md'), 'utf8')
  assert.equal(readme, await readFile(join(ROOT, 'npm', 'README.md'), 'utf8'), 'the tarball README is not npm/README.md')
  assert.doesNotMatch(readme, /setup\.sh|npm test\b|npm run demo/, 'repository set-up in the package README')
  const shipped = packInfo.files.map((f) => f.path)
  // Markdown links and images whose target is not absolute (https:, mailto:) or an anchor: each must be a shipped file.
  const relative = [...readme.matchAll(/!?\[[^\]]*\]\(([^)\s]+)[^)]*\)/g)].map((m) => m[1])
    .filter((target) => !/^([a-z][a-z0-9+.-]*:|#)/i.test(target))
  for (const target of relative) {
    const path = target.split('#')[0].replace(/^\.\//, '')
    assert.ok(shipped.includes(path), `README.md links to ${target}, which the tarball does not hold`)
  }
  for (const [, anchor] of readme.matchAll(/\]\(#([^)]+)\)/g)) {
    const headings = [...readme.matchAll(/^#+ (.*)$/gm)].map((m) => m[1].toLowerCase().replace(/[^a-z0-9 -]/g, '').replace(/ /g, '-'))
    assert.ok(headings.includes(anchor), `README.md links to #${anchor}, which is no heading`)
  }
})

test('no build-machine paths in the shipped files (Rust panic locations such as /root/.cargo/registry/...)', async (t) => {
  // Panic-location strings are compiled into the wasm binaries. Toolchain
  // paths (/rustc/<commit>/library/...) and crate-relative ones (src/api.rs)
  // are reported only; absolute paths of the machine that built the package
  // (its home directory, cargo registry, checkout) must not ship.
  const rustPath = /[A-Za-z0-9_./-]*\.rs\b/g
  const machinePath = /(?:\/root\/|\/home\/[^/\s]+\/|\/Users\/[^/\s]+\/|\/work\/main\/|[A-Za-z0-9_./-]*\.cargo\/registry\/)[A-Za-z0-9_./-]*/g
  const leaks = []
  for (const f of packInfo.files.map((x) => x.path)) {
    if (f.endsWith('.md')) continue
    const text = (await readFile(join(installed, f))).toString('latin1')
    const rust = [...new Set(text.match(rustPath) ?? [])]
    if (rust.length) t.diagnostic(`${f}: ${rust.length} Rust source paths embedded, e.g. ${rust.slice(0, 3).join(', ')}`)
    const machine = [...new Set(text.match(machinePath) ?? [])]
    if (machine.length) leaks.push(`${f}: ${machine.length} paths, e.g. ${machine.slice(0, 2).join(', ')}`)
  }
  assert.deepEqual(leaks, [], `build-machine paths ship in the package:\n${leaks.join('\n')}`)
})

test('package.json: license, engines, sideEffects, exports with types per condition; every path exists', async () => {
  const pkg = JSON.parse(await readFile(join(installed, 'package.json'), 'utf8'))
  assert.equal(pkg.name, 'wallet-backup')
  // The workspace's licence (Cargo.toml: MIT OR Apache-2.0), both texts shipped (test above).
  assert.equal(pkg.license, '(MIT OR Apache-2.0)')
  // The Node.js versions the tests run on: the workspace's own engines, and the Node.js running this test.
  const workspace = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8'))
  assert.deepEqual(pkg.engines, { node: '>=20' })
  assert.deepEqual(pkg.engines, workspace.engines)
  assert.ok(Number(process.versions.node.split('.')[0]) >= 20, `tests run on Node.js ${process.versions.node}`)
  // Only the entries, which start the wasm at their top level, have side effects (tests/packaging/bundlers.test.mjs
  // builds every import shape with Vite, webpack, Rollup and esbuild); the glue and api.js can be tree-shaken.
  assert.deepEqual(pkg.sideEffects, ['./web/index.js', './node/index.mjs', './node/index.cjs', './react-native/index.js'])
  for (const p of pkg.sideEffects) assert.ok(existsSync(join(installed, p)), `sideEffects: ${p} is not shipped`)
  const dot = pkg.exports['.']
  assert.deepEqual(Object.keys(dot), ['react-native', 'node', 'browser', 'default'])
  assert.deepEqual(Object.keys(dot.node), ['import', 'require'])
  // Each condition that leads to code names its types first: ES module declarations, CommonJS ones for require.
  const leaves = { 'react-native': dot['react-native'], 'node.import': dot.node.import, 'node.require': dot.node.require, browser: dot.browser, default: dot.default }
  for (const [name, leaf] of Object.entries(leaves)) assert.deepEqual(Object.keys(leaf), ['types', 'default'], `exports["."].${name}`)
  assert.equal(dot.node.require.types, './index.d.cts')
  for (const name of ['react-native', 'node.import', 'browser', 'default']) assert.equal(leaves[name].types, './index.d.ts', name)
  const paths = [pkg.main, pkg.module, pkg.types, ...Object.values(leaves).flatMap((l) => [l.types, l.default])]
  for (const p of paths) {
    assert.equal(typeof p, 'string')
    assert.ok(existsSync(join(installed, p)), `${p} does not exist in the installed package`)
  }
  assert.equal(dot.default.default, './web/index.js')
  assert.equal(dot.browser.default, './web/index.js')
  assert.equal(dot.node.import.default, './node/index.mjs')
  assert.equal(dot.node.require.default, './node/index.cjs')
  // React Native (Metro asks for `react-native`; older Metro reads the top-level field): the wasm2js build.
  assert.equal(dot['react-native'].default, './react-native/index.js')
  assert.equal(pkg['react-native'], './react-native/index.js')
  // The CommonJS files under node/ are CommonJS despite the package's "type": "module".
  assert.equal(JSON.parse(await readFile(join(installed, 'node', 'package.json'), 'utf8')).type, 'commonjs')

  // Every relative import, require and new URL() in the package's JS points to a shipped file.
  const files = (await walk(installed)).filter((f) => /\.(c|m)?js$/.test(f))
  for (const f of files) {
    const text = await readFile(join(installed, f), 'utf8')
    const refs = [...text.matchAll(/(?:from\s*|import\s*\(\s*|require\s*\(\s*|new URL\s*\(\s*)['"](\.\.?\/[^'"]+)['"]/g)].map((m) => m[1])
    for (const ref of refs) {
      const target = join(installed, f, '..', ref)
      assert.ok(existsSync(target), `${f} refers to ${ref}, which is not in the package`)
    }
  }
})

/** Node's conditional-exports matching: the first key (in map order) that is `default` or in `conditions`. */
function resolveExports(target, conditions) {
  if (typeof target === 'string' || target === null) return target
  for (const [key, value] of Object.entries(target)) {
    if (key !== 'default' && !conditions.includes(key)) continue
    const resolved = resolveExports(value, conditions)
    if (resolved !== undefined) return resolved
  }
  return undefined
}

test('exports map: `types` first wherever it appears; each tool\'s conditions pick its build', async () => {
  const pkg = JSON.parse(await readFile(join(installed, 'package.json'), 'utf8'))
  assert.deepEqual(Object.keys(pkg.exports), ['.', './react-native-libsodium', './package.json'])
  // Every subpath that leads to code has `types`, as its first key; nested condition objects too.
  const conditionObjects = (value, path) => (value && typeof value === 'object'
    ? [[path, value], ...Object.entries(value).flatMap(([k, v]) => conditionObjects(v, `${path}.${k}`))]
    : [])
  for (const [subpath, value] of Object.entries(pkg.exports)) {
    if (subpath === './package.json') { assert.equal(value, './package.json'); continue }
    for (const [path, object] of conditionObjects(value, `exports["${subpath}"]`)) {
      // A condition object that leads to code (has `default`) names its types, first.
      if ('default' in object && typeof object.default === 'string') assert.equal(Object.keys(object)[0], 'types', `${path} keys: ${Object.keys(object)}`)
      if ('types' in object) assert.equal(Object.keys(object)[0], 'types', `${path} keys: ${Object.keys(object)}`)
    }
  }
  // `react-native` ahead of every condition Metro also sets (`require`/`import`, `default`), and of `browser` and `node`.
  const keys = Object.keys(pkg.exports['.'])
  for (const later of ['node', 'browser', 'import', 'require', 'default']) {
    if (keys.includes(later)) assert.ok(keys.indexOf('react-native') < keys.indexOf(later), `react-native after ${later}: ${keys}`)
  }
  assert.equal(keys.at(-1), 'default')

  // The condition sets each tool uses (Metro's: @react-native/metro-config's ['react-native'] plus Metro's own
  // 'default' and 'require'/'import'; Vite's client build: browser, module, production, import, default).
  const cases = [
    ['TypeScript (bundler, import)', ['types', 'import'], './index.d.ts'],
    ['TypeScript (node16, import)', ['types', 'import', 'node'], './index.d.ts'],
    ['TypeScript (node16, require: a CommonJS project)', ['types', 'require', 'node'], './index.d.cts'],
    ['TypeScript (bundler, React Native customConditions)', ['types', 'import', 'react-native'], './index.d.ts'],
    ['Node.js import', ['node', 'import'], './node/index.mjs'],
    ['Node.js require', ['node', 'require'], './node/index.cjs'],
    ['Metro (React Native), require', ['require', 'react-native'], './react-native/index.js'],
    ['Metro (React Native), import', ['import', 'react-native'], './react-native/index.js'],
    ['Metro for web (platform web adds browser)', ['require', 'browser'], './web/index.js'],
    ['Vite / Rollup / esbuild for browsers', ['browser', 'module', 'production', 'import'], './web/index.js'],
    ['webpack (browser target)', ['browser', 'import', 'module', 'webpack', 'production'], './web/index.js'],
    ['a bundler or runtime with neither browser nor node (workers)', ['import', 'worker'], './web/index.js'],
  ]
  // `wallet-backup/react-native-libsodium`, the deriveKey adapter: the ES module for Metro and import,
  // CommonJS for require, each with its types; side-effect free (not in `sideEffects`).
  const adapterCases = [
    ['Metro (React Native), require', ['require', 'react-native'], './react-native-libsodium.js'],
    ['Metro (React Native), import', ['import', 'react-native'], './react-native-libsodium.js'],
    ['TypeScript (bundler, React Native customConditions)', ['types', 'import', 'react-native'], './react-native-libsodium.d.ts'],
    ['TypeScript (node16, require)', ['types', 'require', 'node'], './react-native-libsodium.d.cts'],
    ['Node.js import', ['node', 'import'], './react-native-libsodium.js'],
    ['Node.js require', ['node', 'require'], './react-native-libsodium.cjs'],
    ['a bundler for browsers', ['browser', 'import'], './react-native-libsodium.js'],
  ]
  for (const [tool, conditions, expected] of adapterCases) {
    assert.equal(resolveExports(pkg.exports['./react-native-libsodium'], conditions), expected, `react-native-libsodium: ${tool}`)
    assert.ok(existsSync(join(installed, expected)), `${expected} is not shipped`)
  }
  assert.ok(!pkg.sideEffects.some((p) => p.includes('libsodium')))
  // Resolved by name from the consumer project, as an app's require() does.
  const required = createRequire(join(installed, '..', '..', 'consumer.cjs'))('wallet-backup/react-native-libsodium')
  assert.equal(typeof required.libsodiumDeriveKey, 'function')
  assert.equal(typeof (await import(join(installed, 'react-native-libsodium.js'))).libsodiumDeriveKey, 'function')

  for (const [tool, conditions, expected] of cases) {
    assert.equal(resolveExports(pkg.exports['.'], conditions), expected, tool)
    assert.ok(existsSync(join(installed, expected)), `${expected} (${tool}) is not shipped`)
  }
  // Code, not types, for every tool that does not ask for types.
  for (const [tool, conditions] of cases.filter(([tool]) => !tool.startsWith('TypeScript'))) {
    assert.doesNotMatch(resolveExports(pkg.exports['.'], conditions), /\.d\.c?ts$/, tool)
  }
  // Resolvers without package exports (older Metro, resolverMainFields ['react-native', 'browser', 'main']).
  assert.equal(pkg['react-native'], './react-native/index.js')
})

test('ESM consumer: import { Portal, BackupMethods } from "wallet-backup" does a full backup and recovery', async () => {
  const out = await node('esm.mjs', `
    import { Portal, BackupMethods, MpcStatuses } from 'wallet-backup'
    const resolved = import.meta.resolve('wallet-backup')
    if (!resolved.endsWith('/node_modules/wallet-backup/node/index.mjs')) throw new Error('resolved ' + resolved)
    ${ROUND_TRIP}
    console.log('ESM OK')
  `)
  assert.match(out, /ESM OK/)
})

test('CommonJS consumer: require("wallet-backup") does a full backup and recovery', async () => {
  const out = await node('cjs.cjs', `
    const { Portal, BackupMethods, MpcStatuses } = require('wallet-backup')
    const resolved = require.resolve('wallet-backup')
    if (!resolved.endsWith('/node_modules/wallet-backup/node/index.cjs')) throw new Error('resolved ' + resolved)
    ;(async () => {
      ${ROUND_TRIP}
      console.log('CJS OK')
    })().catch((e) => { console.error(e); process.exit(1) })
  `)
  assert.match(out, /CJS OK/)
})

test('ESM and CommonJS in one process get the same instance', async () => {
  const out = await node('both.mjs', `
    import { createRequire } from 'node:module'
    import * as esm from 'wallet-backup'
    const cjs = createRequire(import.meta.url)('wallet-backup')
    for (const name of ['Portal', 'backupWallet', 'recoverWallet', 'BackupMethods', 'MpcStatuses']) {
      if (esm[name] !== cjs[name]) throw new Error(name + ' differs between import and require')
    }
    // Shared state: a backup through one entry blocks the same keychain in the other.
    const keychain = { async getShares() { return 'x' }, async setShares() {} }
    let record = null
    const custodian = { async read() { return record }, async write(r) { record = r } }
    const config = { passwordStorage: { password: 'pw' } }
    const first = new esm.Portal({ keychain, custodian }).backupWallet('password', null, config)
    const second = new cjs.Portal({ keychain, custodian }).backupWallet('password', null, config)
    const [a, b] = await Promise.allSettled([first, second])
    if (a.status !== 'fulfilled') throw a.reason
    if (b.status !== 'rejected' || b.reason.code !== 'WALLET_MODIFICATION_ALREADY_IN_PROGRESS') throw new Error('not one instance: ' + b.status)
    console.log('SAME INSTANCE')
  `)
  assert.match(out, /SAME INSTANCE/)
})

test('bundlers: the browser condition resolves to web/index.js, which loads the wasm (esbuild)', async () => {
  const esbuild = await import('esbuild')
  const result = await esbuild.build({
    stdin: { contents: "import { Portal } from 'wallet-backup'; console.log(Portal)", resolveDir: consumer, loader: 'js' },
    absWorkingDir: consumer,
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    metafile: true,
    logLevel: 'silent',
  })
  const inputs = Object.keys(result.metafile.inputs)
  assert.ok(inputs.some((i) => i.endsWith('wallet-backup/web/index.js')), `inputs: ${inputs}`)
  assert.ok(!inputs.some((i) => i.includes('wallet-backup/node/')), `node entry bundled for the browser: ${inputs}`)
  const code = result.outputFiles[0].text
  assert.match(code, /wallet_backup_bg\.wasm/)
})

test('TypeScript consumer compiles (strict; bundler and node16 resolution, ES module and CommonJS projects) against the installed tarball', async () => {
  for (const f of await readdir(TS_CONSUMER)) await cp(join(TS_CONSUMER, f), join(consumer, f), { recursive: true })
  // The CommonJS project (cjs/package.json has no "type": "module") compiles the same consumer.
  await cp(join(TS_CONSUMER, 'consumer.ts'), join(consumer, 'cjs', 'consumer.ts'))
  const projects = [
    ['tsconfig.json', 'index.d.ts', 'types/wallet_backup.d.ts'],
    ['tsconfig.node16.json', 'index.d.ts', 'types/wallet_backup.d.ts'],
    // Without the .d.cts types this fails with TS1479 (a CommonJS file importing an ES module).
    ['cjs/tsconfig.json', 'index.d.cts', 'types/wallet_backup.d.cts'],
  ]
  for (const [project, ...declarations] of projects) {
    const r = await run(process.execPath, [TSC, '--noEmit', '-p', project, '--listFiles'], { cwd: consumer })
    assert.equal(r.code, 0, `tsc -p ${project} failed:\n${r.stdout}${r.stderr}`)
    // The declarations came from the installed package, not from the repository, and only the ones for this module format.
    const listed = r.stdout.split('\n')
    const fromInstalled = (suffix) => listed.some((l) => l.endsWith(`/node_modules/wallet-backup/${suffix}`) && l.startsWith(consumer))
    for (const d of declarations) assert.ok(fromInstalled(d), `${project}: ${d} not taken from the installed package:\n${r.stdout}`)
    const other = declarations.map((d) => (d.endsWith('.d.cts') ? d.replace(/\.d\.cts$/, '.d.ts') : d.replace(/\.d\.ts$/, '.d.cts')))
    for (const d of other) assert.ok(!fromInstalled(d), `${project}: ${d} taken as well:\n${r.stdout}`)
  }
  // The CommonJS project really is one: tsc emits require() for it.
  const emitted = await run(process.execPath, [TSC, '-p', 'cjs/tsconfig.json', '--noEmit', 'false', '--outDir', 'cjs/out'], { cwd: consumer })
  assert.equal(emitted.code, 0, `${emitted.stdout}${emitted.stderr}`)
  assert.match(await readFile(join(consumer, 'cjs', 'out', 'consumer.js'), 'utf8'), /require\("wallet-backup"\)/)

  // Control: the same setup rejects wrong code, so the check above means something.
  await writeFile(join(consumer, 'control.ts'), [
    "import { BackupMethods, Portal } from 'wallet-backup'",
    "export const m: 'nope' = BackupMethods.Password",
    'export const p: number = new Portal({ keychain: 1, custodian: 2 })',
    '',
  ].join('\n'))
  await writeFile(join(consumer, 'tsconfig.control.json'), JSON.stringify({ extends: './tsconfig.json', files: ['control.ts'] }))
  const r = await run(process.execPath, [TSC, '--noEmit', '-p', 'tsconfig.control.json'], { cwd: consumer })
  assert.notEqual(r.code, 0, 'tsc accepted code with type errors')
  assert.match(r.stdout, /control\.ts\(2,\d+\): error TS2322: Type '"password"' is not assignable to type '"nope"'/)
  assert.match(r.stdout, /control\.ts\(3,\d+\): error TS2322: Type 'Portal' is not assignable to type 'number'/)
  assert.match(r.stdout, /control\.ts\(3,\d+\): error TS\d+: Type 'number' [^\n]*'Keychain'/)
})

test('type declarations (pkg/index.d.ts, pkg/types/wallet_backup.d.ts, pkg/react-native-libsodium.d.ts and their .d.cts twins) contain no `any`', () => {
  const offending = []
  for (const rel of ['index.d.ts', 'types/wallet_backup.d.ts', 'index.d.cts', 'types/wallet_backup.d.cts', 'react-native-libsodium.d.ts', 'react-native-libsodium.d.cts']) {
    const source = readFileSync(join(PKG, rel), 'utf8')
    // Blank out comments (keeping line numbers) so prose like "any" in a doc comment is not a type.
    const code = source
      .replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' '))
      .replace(/\/\/[^\n]*/g, '')
    code.split('\n').forEach((line, i) => {
      if (/\bany\b/.test(line)) offending.push(`pkg/${rel}:${i + 1}: ${source.split('\n')[i].trim()}`)
    })
  }
  assert.deepEqual(offending, [], `\`any\` in the public types:\n${offending.join('\n')}`)
})
