// The React Native consumer: the packed tarball installed into an app,
// bundled by real Metro with React Native's default configuration, compiled
// to Hermes bytecode and run in Hermes, where it does a password backup and
// recovery with the app's Argon2id (passwordStorage.deriveKey), is refused
// without it (NATIVE_KDF_REQUIRED), and bundles the libsodium adapter's subpath.
//
//   node --test tests/packaging/metro-hermes.test.mjs
//
// Metro's configuration is @react-native/metro-config's getDefaultConfig,
// what `npx @react-native-community/cli init` apps use, with no
// wallet-backup-specific setting: its resolver asks package exports for
// `react-native` (unstable_conditionNames: ['react-native']); Metro's
// resolver itself adds `default` and `require` (or `import` for ESM imports
// with experimentalImportSupport), see metro-resolver's
// matchSubpathFromExportsLike. What the test changes is not about
// resolution: getModulesRunBeforeMainModule returns [] (its default runs
// react-native/Libraries/Core/InitializeCore, which needs the react-native
// package and a device); Metro's runtime and polyfills, which live in this
// workspace's node_modules rather than the app's, are watched; no transform
// cache, so every run transforms; a resolver hook records answers.
//
// Hermes: today's hermesc (npm hermes-compiler, bytecode 99) compiles the
// bundle as a React Native release build does (-emit-binary -O). The only
// Hermes VM that runs on this machine is npm hermes-engine-cli 0.12 (bytecode
// 89), which cannot load bytecode 99, so the bytecode that runs is compiled
// by that release's own hermesc, from the same bundle.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { realpathSync } from 'node:fs'
import { createRequire } from 'node:module'
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

import { ROOT, PKG, packAndInstall, run } from './consumer.mjs'

const require = createRequire(import.meta.url)
const HERMESC = join(ROOT, 'node_modules', 'hermes-compiler', 'hermesc', 'linux64-bin', 'hermesc')
const HERMES_BIN = join(ROOT, 'node_modules', 'hermes-engine-cli', 'linux64-bin')
const FIXTURE = join(ROOT, 'tests', 'packaging', 'metro-consumer')

let c // the consumer
let input
const resolutions = [] // [{ from, name, path }] as Metro resolved them
let bundle // path of the Metro bundle

before(async () => {
  c = await packAndInstall('metro', { fixture: FIXTURE })
  // What an app has next to wallet-backup: @babel/runtime (a dependency of
  // react-native; Babel's helpers come from it) and the KDF the app chose.
  await c.addFromWorkspace('@babel/runtime')
  await c.addFromWorkspace('@noble/hashes')
  input = {
    seed: randomBytes(32).toString('hex'),
    password: 'pässwörd 🔑 metro',
    shares: JSON.stringify({ secp256k1: { id: 'metro-w1', share: randomBytes(64).toString('hex') } }),
  }
  await writeFile(join(c.consumer, 'input.json'), JSON.stringify(input))

  // As `react-native bundle` loads it: Metro's loadConfig in the app's
  // directory (no metro.config.js there, so the overrides below stand for
  // the template's `mergeConfig(getDefaultConfig(__dirname), {})`);
  // loadConfig adds the project root to watchFolders.
  const Metro = require('metro')
  const { getDefaultConfig, mergeConfig } = require('@react-native/metro-config')
  const appConfig = mergeConfig(getDefaultConfig(c.consumer), {
    resolver: {
      // Records what the default resolver answers; changes nothing.
      resolveRequest(context, moduleName, platform) {
        const resolution = context.resolveRequest(context, moduleName, platform)
        resolutions.push({ from: context.originModulePath, name: moduleName, path: resolution.filePath })
        return resolution
      },
    },
    serializer: { getModulesRunBeforeMainModule: () => [] },
    cacheStores: [],
    // Metro's runtime and React Native's polyfills come from this
    // workspace's node_modules (an app has them in its own); Metro only
    // reads files in watched folders, by real path (node_modules may be a symlink).
    watchFolders: ['metro-runtime', '@react-native/js-polyfills'].map((p) => realpathSync(join(ROOT, 'node_modules', p))),
  })
  const loaded = await Metro.loadConfig({ cwd: c.consumer, resetCache: true, verbose: false }, appConfig)
  // The file map's cache in the temp dir, not os.tmpdir() (set after loadConfig, whose validation does not know the key).
  await mkdir(join(c.tmp, 'metro-file-map'))
  const config = mergeConfig(loaded, { fileMapCacheDirectory: join(c.tmp, 'metro-file-map') })
  assert.equal(config.watchFolders[0], c.consumer)
  // The conditions are React Native's own, not set here.
  assert.deepEqual(config.resolver.unstable_conditionNames, ['react-native'])
  assert.deepEqual(config.resolver.resolverMainFields, ['react-native', 'browser', 'main'])
  assert.equal(config.resolver.unstable_enablePackageExports, true)

  bundle = join(c.tmp, 'index.android.bundle')
  // A release bundle, as `react-native bundle --dev false` for Hermes (Hermes builds skip Metro's minifier).
  await Metro.runBuild(config, { entry: 'index.js', platform: 'android', dev: false, minify: false, bundleOut: bundle })
})

after(async () => {
  if (c) await c.cleanup()
})

test('Metro with React Native\'s default config resolves wallet-backup to react-native/index.js', async (t) => {
  const ours = resolutions.filter((r) => r.name === 'wallet-backup')
  assert.equal(ours.length, 1, JSON.stringify(resolutions, null, 1))
  assert.equal(ours[0].path, join(c.installed, 'react-native', 'index.js'))
  assert.ok(!resolutions.some((r) => /wallet-backup[/\\](web|node)[/\\]/.test(r.path)), JSON.stringify(resolutions, null, 1))
  // The deriveKey adapter's subpath resolves to its ES module.
  const adapter = resolutions.filter((r) => r.name === 'wallet-backup/react-native-libsodium')
  assert.deepEqual(adapter.map((r) => r.path), [join(c.installed, 'react-native-libsodium.js')], JSON.stringify(resolutions, null, 1))
  // Nothing else from the package is bundled: the react-native build is one file with no wasm to fetch.
  const fromPackage = resolutions.filter((r) => r.path?.startsWith(c.installed)).map((r) => r.path)
  assert.deepEqual([...new Set(fromPackage)].sort(), [join(c.installed, 'react-native', 'index.js'), join(c.installed, 'react-native-libsodium.js')].sort())
  const code = await readFile(bundle, 'utf8')
  assert.doesNotMatch(code, /WebAssembly\.|wallet_backup_bg\.wasm/)
  t.diagnostic(`Metro bundle: ${(await stat(bundle)).size} bytes, ${resolutions.length} resolutions`)
})

test('hermesc of today\'s React Native compiles the Metro bundle to bytecode', async () => {
  const out = join(c.tmp, 'index.android.hbc')
  const r = await run(HERMESC, ['-emit-binary', '-O', '-max-diagnostic-width=80', '-out', out, bundle], { timeout: 300_000 })
  assert.equal(r.code, 0, `hermesc failed:\n${r.stdout}\n${r.stderr}`)
  const hbc = await readFile(out)
  // Hermes bytecode magic (little-endian 0x1F1903C103BC1FC6).
  assert.ok(hbc.subarray(0, 8).equals(Buffer.from('c61fbc03c103191f', 'hex')), 'not Hermes bytecode')
})

test('the Metro bundle, as Hermes bytecode, does a password backup and recovery with the app\'s Argon2id', async (t) => {
  const hbc = join(c.tmp, 'index.android.hermes012.hbc')
  const compiled = await run(join(HERMES_BIN, 'hermesc'), ['-emit-binary', '-O', '-out', hbc, bundle], { timeout: 300_000 })
  assert.equal(compiled.code, 0, `hermesc 0.12 failed:\n${compiled.stdout}\n${compiled.stderr}`)
  const started = Date.now()
  const r = await run(join(HERMES_BIN, 'hermes'), [hbc], { timeout: 300_000 })
  const output = r.stdout + r.stderr
  assert.equal(r.code, 0, `hermes failed:\n${output.slice(0, 4000)}`)
  assert.doesNotMatch(output, /FATAL/)
  assert.match(output, /^DONE$/m, output.slice(0, 4000))
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '))
  const result = JSON.parse(line.slice(7))
  assert.equal(result.recovered, input.shares, 'the recovered shares differ from the original')
  assert.equal(result.done, true)
  assert.equal(result.kdfCalls, 3, 'backup, recovery and wrong-password recovery each derive once')
  assert.equal(result.wrong, 'WRONG_PASSWORD')
  assert.equal(result.noKdf, 'NATIVE_KDF_REQUIRED')
  assert.equal(result.adapter, 'TypeError')
  assert.match(result.cipherText, /^wbk1\./)
  t.diagnostic(`Hermes 0.12 run: ${Date.now() - started} ms`)

  // The app's KDF gave the real Argon2id: the Node.js build (its own Argon2id in wasm) opens what Hermes sealed.
  const node = createRequire(import.meta.url)(join(PKG, 'node', 'index.cjs'))
  let shares = ''
  const keychain = { async getShares() { return shares }, async setShares(s) { shares = s } }
  const custodian = { async read() { return result.record }, async write() {} }
  await new node.Portal({ keychain, custodian }).recoverWallet(result.cipherText, 'password', null, { passwordStorage: { password: input.password } })
  assert.equal(shares, input.shares)
})
