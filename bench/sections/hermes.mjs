// Section 8 of the bench: the React Native build in the real
// Hermes engine (npm hermes-engine-cli 0.12), backup and recovery per method,
// each against the same work in Node.js in the same rounds.
//
// Hermes runs the package's `react-native` build (wasm2js, ES5) bundled with
// the scenarios of the Hermes driver (dev/hermes/bundle.mjs) in its REPL; Node plays React
// Native's native side over the driver's bridge, which the Hermes tests use too
// (dev/hermes/bridge.mjs): fetch (real HTTP on loopback), timers, and the
// native modules (react-native-passkeys as the software authenticator,
// Firebase Auth tokens from the development issuer, Google Sign-In tokens
// from the local Drive v3 server, CloudKit sign-in from the local CloudKit
// server, key-value stores, a native Argon2id).
// The scenario code is dev/hermes/methods.js, run in both engines: in
// Hermes through the bridge, in Node on pkg/node with the same native
// modules called directly (no bridge). Both talk to the same release
// service (SQLite, loopback), issuer and Drive server, with a fresh client
// per run; every run is backup on one device, then recoverWallet('') on a
// new one, and must restore the shares.
//
// Password is measured three ways, the KDF being what differs (and with the app's native KDF once
// more, guess-limited: the OPRF with the service, issue 15; section 11 compares it):
//   app KDF, native module   passwordStorage.deriveKey answered by native Rust Argon2id
//                            (bench/native --serve), across the bridge in Hermes;
//   app KDF, @noble/hashes   deriveKey = pure-JS Argon2id running in the engine itself;
//   in-module Argon2id       no deriveKey: the module's Argon2id (wasm2js in Hermes, with allowSlowKdf; wasm in Node).
// The last two are slow in Hermes (seconds per derive), so they get fewer runs, and
// their warm-up round runs in Node only.

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { argon2id } from '@noble/hashes/argon2.js'
import sodium from 'libsodium-wrappers-sumo'

import { summary } from '../page/measure.js'
import { startNative } from '../native-client.mjs'

/** The cases: [name, scenario, ctx extras, slow]. */
const CASES = [
  ['password, app KDF: native Argon2id module', 'method:password', { kdf: 'app-native' }, false],
  ['password, app KDF: native Argon2id module, guess-limited', 'method:password', { kdf: 'app-native', guessLimited: true }, false],
  ['firebase', 'method:firebase', {}, false],
  ['passkey, PRF mode', 'method:passkey', { mode: 'auto' }, false],
  ['passkey, enclave mode', 'method:passkey', { mode: 'enclave' }, false],
  ['gdrive', 'method:gdrive', {}, false],
  ['icloud, key-value store', 'method:icloud', { icloud: 'kv' }, false],
  ['icloud, CloudKit Web Services', 'method:icloud', { icloud: 'cloudkit' }, false],
  ['custom', 'method:custom', {}, false],
  ['password, app KDF: @noble/hashes Argon2id in the engine', 'method:password', { kdf: 'app-js' }, true],
  ['password, in-module Argon2id', 'method:password', { kdf: 'module' }, true],
]

/**
 * Runs the section; resolves { runs, slowRuns, loadMs, recoveredOk, cases: { name: { hermes, node } } }
 * with { backup, recovery } summaries (ms) per engine. `serviceBin`: the release service;
 * `nativeBin`: bench/native's binary.
 */
export async function hermesSection({ root, serviceBin, nativeBin, runs = 5, slowRuns = 2, log = () => {} }) {
  const { startHermes } = await import(pathToFileURL(join(root, 'dev', 'hermes', 'bridge.mjs')).href)
  const { bundleScenarios } = await import(pathToFileURL(join(root, 'dev', 'hermes', 'bundle.mjs')).href)
  const { startServices } = await import(pathToFileURL(join(root, 'dev', 'hermes', 'services.mjs')).href)
  const { methodScenarios } = await import(pathToFileURL(join(root, 'dev', 'hermes', 'methods.js')).href)
  const wb = await import(pathToFileURL(join(root, 'pkg', 'node', 'index.mjs')).href)

  const dir = mkdtempSync(join(tmpdir(), 'wallet-backup-bench-hermes-'))
  const native = startNative(nativeBin)
  let services = null
  let hermes = null
  try {
    services = await startServices({ bin: serviceBin, nativeArgon2: native.request })
    const seed = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('hex')
    // The scenarios' react-native-libsodium stand-in reads libsodium's constants when the bundle
    // loads (its scenarios are the Hermes tests', not run here): without them the bundle throws.
    await sodium.ready
    const sodiumInputs = { algArgon2id13: sodium.crypto_pwhash_ALG_ARGON2ID13, saltBytes: sodium.crypto_pwhash_SALTBYTES }
    const { bundle } = await bundleScenarios({ dir, inputs: { seed, nodeSealed: null, sodium: sodiumInputs } })
    hermes = await startHermes({ bundle, call: services.call })

    // The Node reference: the same scenarios and native modules, called directly.
    const utf8 = (s) => new TextEncoder().encode(s)
    const node = methodScenarios({
      wb,
      native: services.call,
      kdfs: {
        'app-js': async (q) => argon2id(utf8(q.password), q.salt, { m: q.memoryKiB, t: q.iterations, p: q.parallelism, dkLen: q.hashLength }),
        'app-native': async (q) => Buffer.from(await services.call('argon2', 'derive',
          [Buffer.from(q.password).toString('hex'), Buffer.from(q.salt).toString('hex'), q.memoryKiB, q.iterations, q.parallelism]), 'hex'),
      },
      now: () => performance.now(),
    })

    const samples = Object.fromEntries(CASES.map(([name]) => [name, { hermes: { backup: [], recovery: [] }, node: { backup: [], recovery: [] } }]))
    let recoveredOk = true
    const record = (name, engine, r, keep) => {
      if (!r.restored) recoveredOk = false
      if (keep) {
        samples[name][engine].backup.push(r.backupMs)
        samples[name][engine].recovery.push(r.recoveryMs)
      }
    }
    // Each round runs every case in Hermes, then in Node. Round -1 (not recorded) warms both
    // engines up; for the slow rows only Node (its JIT and the wasm memory's first growth):
    // Hermes has no JIT, and one derive there takes seconds.
    for (let round = -1; round < runs; round++) {
      for (const [name, scenario, extra, slow] of CASES) {
        if (slow && round >= slowRuns) continue
        log(`hermes section: round ${round < 0 ? 'warm-up' : round + 1}, ${name}`)
        if (!(slow && round < 0)) record(name, 'hermes', await hermes.run(scenario, await services.context(extra), { timeoutMs: 300_000 }), round >= 0)
        record(name, 'node', await node[scenario](await services.context(extra)), round >= 0)
      }
    }
    const cases = {}
    for (const [name, , , slow] of CASES) {
      const s = samples[name]
      cases[name] = {
        slow,
        hermes: { backup: summary(s.hermes.backup), recovery: summary(s.hermes.recovery) },
        node: { backup: summary(s.node.backup), recovery: summary(s.node.recovery) },
      }
    }
    if (hermes.uncaught.length) throw new Error(`uncaught in Hermes: ${hermes.uncaught[0]}`)
    return { runs, slowRuns, loadMs: hermes.loadMs, bridgedFetches: hermes.fetchLog.length, recoveredOk, cases }
  } finally {
    await hermes?.close()
    await services?.close()
    await native.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Every recovery in both engines restored the shares: [name, ok, detail]. */
export function hermesChecks(r) {
  return [['section 8: every recovery in Hermes and in its Node.js reference restores the shares (every run)', r.hermes.recoveredOk]]
}

/** The Markdown lines of the section. */
export function hermesReport(h, { ms, spread, ratio }) {
  const L = []
  const t = (...cells) => L.push(`| ${cells.join(' | ')} |`)
  L.push(`## 8. React Native build in Hermes: backup / recovery per method (hermes-engine-cli 0.12, the \`react-native\` build through wasm2js; reference: the same scenarios in Node.js on \`pkg/node\`, same rounds; ${h.runs} runs, ${h.slowRuns} for the slow KDF rows)`, '')
  t('Method', 'Operation', 'Hermes (median)', 'Hermes p10–p90', 'Reference: Node.js (median, same rounds)', 'Hermes ÷ Node')
  t('---', '---', '---', '---', '---', '---')
  for (const [name, c] of Object.entries(h.cases)) {
    for (const op of ['backup', 'recovery']) {
      t(op === 'backup' ? name : '', op === 'backup' ? '`backupWallet`' : "`recoverWallet('')`, new device", `**${ms(c.hermes[op].median)}**`, spread(c.hermes[op]), ms(c.node[op].median), ratio(c.hermes[op].median / c.node[op].median))
    }
  }
  L.push('', `Every run: a fresh client of the release service (SQLite, loopback); backup on one device, recovery with \`recoverWallet('')\` on a new one (empty keychain), which must restore the shares. ` +
    `In Hermes, every request, timer and native-module call crosses the test bridge (one stdout line out, one stdin line back; ${h.bridgedFetches} bridged fetches in this section), so the fast rows include that round trip, as a device's fetch includes React Native's bridge. ` +
    `The bundle loaded into the Hermes REPL in ${ms(h.loadMs)}. Password rows differ only by the KDF (Argon2id m=19456 KiB, t=2, p=1, one derive per backup and per recovery): a native Argon2id module (native Rust, the same in both engines), @noble/hashes' pure-JS Argon2id in the engine, or the module's own (wasm2js in Hermes, wasm in Node); the guess-limited row adds the OPRF (ristretto255, in wasm2js in Hermes) and its calls to the service's guard (section 11). No timing target.`, '')
  return L
}
