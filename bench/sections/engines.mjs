// Sections 3–5 of the bench, measured together in each engine (bench/page/measure.js, in Node.js
// through bench/node-bench.mjs and in Chromium through bench/page/browser.js), native Rust
// (bench/native) interleaved in the same rounds:
//   3. password backup and recovery through the real Portal API;
//   4. Argon2id (m=19456 KiB, t=2, p=1): this module's wasm (the shipped build, and a +simd128
//      build that is not shipped) vs npm hash-wasm vs native Rust, outputs cross-checked;
//   5. AES-256-GCM seal/open of 256 B and 4 KiB: the shipped build vs WebCrypto (+ native),
//      ciphertexts cross-checked.
import { join } from 'node:path'
import { summary } from '../page/measure.js'
import { nativeBinary, startNative } from '../native-client.mjs'
import { ARGON2, INPUTS, SUITE, TARGETS, WASM_VARIANTS, benchWasmFiles, lastJson, log, met, ms, pkg, ratio, root, runChild, spread, table, us } from '../common.mjs'

const IMPL_NAMES = { wasm: 'this module, wasm (shipped build)', 'wasm-simd': 'this module, wasm +simd128 (not shipped)', 'hash-wasm': 'npm hash-wasm 4.13.0' }

/**
 * The native reference alone (a batch run of bench/native): Argon2id and AES-GCM. The binary
 * run.mjs built, run directly: `cargo run -p wallet-backup-bench-native` resolves the features of
 * that one package, not of the build with the service, and compiled it again while measuring.
 */
export async function runNative() {
  const args = [
    '--password-hex', INPUTS.passwordHex, '--salt-hex', INPUTS.saltHex, '--key-hex', INPUTS.keyHex, '--nonce-hex', INPUTS.nonceHex,
    '--runs', String(SUITE.argon2Runs), '--warmup', String(SUITE.argon2Warmup), '--batches', String(SUITE.aesBatches),
    '--sizes', SUITE.aesSizes.join(','),
    '--memory-kib', String(ARGON2.memoryKiB), '--iterations', String(ARGON2.iterations), '--parallelism', String(ARGON2.parallelism)]
  return lastJson(await runChild(nativeBinary(), args))
}

/** Sections 3–5 in Node.js (a fresh process). */
export async function nodeSuite() {
  const cfg = {
    ...SUITE,
    benchWasm: Object.fromEntries(WASM_VARIANTS.map((v) => [v, { gluePath: benchWasmFiles(v).glue, wasmPath: benchWasmFiles(v).wasm }])),
    nodeEntryPath: join(pkg, 'node', 'index.mjs'),
    nativeBin: nativeBinary(),
  }
  return lastJson(await runChild(process.execPath, [join(root, 'bench', 'node-bench.mjs'), JSON.stringify(cfg)]))
}

/** Sections 3–5 in Chromium: `browser`, playwright's; `base`, the bench page server's origin. */
export async function chromiumSuite(browser, base) {
  const cfg = {
    ...SUITE,
    benchWasm: Object.fromEntries(WASM_VARIANTS.map((v) => [v, { glueUrl: `/bench/out/wasm/${v}/wallet_backup.js`, wasmUrl: `/bench/out/wasm/${v}/wallet_backup_bg.wasm` }])),
    hashWasmUrl: '/node_modules/hash-wasm/dist/index.esm.min.js',
    webEntryUrl: '/pkg/web/index.js',
  }
  const ctx = await browser.newContext()
  const native = startNative(nativeBinary())
  try {
    const page = await ctx.newPage()
    await page.exposeFunction('benchNative', (line) => native.request(line))
    page.on('pageerror', (e) => log('page error:', e.message))
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') log(`page ${m.type()}:`, m.text()) })
    await page.goto(`${base}/bench/page/index.html`)
    return await page.evaluate(async (c) => (await import('/bench/page/browser.js')).runBrowserSuite(c), cfg)
  } finally {
    await ctx.close()
    await native.close()
  }
}

/** Identical outputs across implementations, and every Portal recovery restoring the shares: [name, ok, detail]. */
export function engineChecks(r) {
  const checks = []
  const check = (name, ok, detail) => checks.push([name, ok, detail])
  const nativeKey = r.native.argon2id.output_hex
  for (const env of ['node', 'chromium']) {
    const s = r[env]
    const a = s.argon2
    for (const impl of Object.keys(a)) {
      check(`${env}: Argon2id ${impl} output = native Rust`, a[impl].outputHex === nativeKey, `${a[impl].outputHex.slice(0, 16)}… vs ${nativeKey.slice(0, 16)}…`)
      check(`${env}: Argon2id ${impl} output stable across runs`, !a[impl].unstable)
    }
    for (const n of SUITE.aesSizes) {
      const e = s.aes[n]
      const nativeCt = r.native.aes_gcm.find((x) => x.bytes === n).ciphertext_hex
      for (const impl of Object.keys(e.impls)) {
        check(`${env}: AES-256-GCM ${n} B ${impl} ciphertext = native Rust`, e.impls[impl].ciphertextHex === nativeCt)
        check(`${env}: AES-256-GCM ${n} B ${impl} open(seal(p)) = p`, e.impls[impl].roundTrip)
      }
    }
    check(`${env}: Portal recoverWallet restores the backed-up shares (every run)`, s.portal.recoveredOk)
  }
  return checks
}

/** The sections' Markdown lines. */
export function enginesReport(r) {
  const L = []
  const { t, head } = table(L)
  L.push(`## 3. Password backup / recovery through \`Portal\` (default Argon2id, in-memory adapters, ${SUITE.portalRuns} runs)`, '')
  head('Env', 'Operation', 'Value (median)', 'p10–p90', 'Reference: one Argon2id derive (wasm, same env)', 'Ratio', 'Target', 'Met')
  for (const [env, label] of [['node', 'Node'], ['chromium', 'Chromium']]) {
    const s = r[env]
    const ref = s.argon2.wasm.median
    for (const op of ['backup', 'recover']) {
      t(label, op === 'backup' ? '`backupWallet`' : '`recoverWallet`', `**${ms(s.portal[op].median)}**`, spread(s.portal[op]), ms(ref), ratio(s.portal[op].median / ref), '—', '')
    }
  }
  L.push('')

  L.push(`## 4. Argon2id derive (m=${ARGON2.memoryKiB} KiB, t=${ARGON2.iterations}, p=${ARGON2.parallelism}, 32-byte output; ${SUITE.argon2Runs} interleaved rounds)`, '')
  head('Env', 'Implementation', 'Value (median)', 'p10–p90', 'Reference: native Rust, interleaved', '× native', 'Target', 'Met', 'Info: fastest ÷ fastest native')
  for (const [env, label] of [['node', 'Node'], ['chromium', 'Chromium']]) {
    const nat = r[env].argon2.native.median
    for (const [impl, s] of Object.entries(r[env].argon2)) {
      if (impl === 'native') continue
      const x = s.median / nat
      const targeted = env === 'chromium' && impl === 'wasm'
      t(label, IMPL_NAMES[impl] ?? impl, `**${ms(s.median)}**`, spread(s), ms(nat), ratio(x), targeted ? `≤ ${TARGETS.chromiumArgonXNative}×` : '—', targeted ? met(x <= TARGETS.chromiumArgonXNative) : '',
        ratio(s.min / r[env].argon2.native.min))
    }
    t(label, 'native Rust (interleaved with the rows above)', ms(nat), spread(r[env].argon2.native), '—', '1.00×', '—', '', `${ms(r[env].argon2.native.min)} min`)
  }
  const nn = summary(r.native.argon2id.samples_ms)
  t('native', '`wallet-backup-bench-native` alone (release build; same `kdf::Argon2idParams::derive`)', ms(nn.median), spread(nn), '—', '—', '—', '', `${ms(nn.min)} min`)
  L.push('', 'The ratio of the fastest runs is less sensitive to other work on the machine than the ratio of medians; the target is checked on medians.')
  const simdVs = ['node', 'chromium'].map((env) => {
    const a = r[env].argon2
    return `${env === 'node' ? 'Node' : 'Chromium'} ${ratio(a['wasm-simd'].median / a.wasm.median)} (fastest runs ${ratio(a['wasm-simd'].min / a.wasm.min)})`
  })
  L.push('', `+simd128 build ÷ shipped build, Argon2id, same rounds (above 1× = the +simd128 build is slower): ${simdVs.join('; ')}.`)
  L.push('')

  L.push(`## 5. AES-256-GCM per operation, shipped build (median of ${SUITE.aesBatches} interleaved batches; fixed key/nonce, no AAD)`, '')
  head('Env', 'Size', 'Op', 'Value: wasm', 'Reference: WebCrypto', 'wasm ÷ WebCrypto', 'native Rust (interleaved)', 'wasm × native', 'Target')
  for (const [env, label] of [['node', 'Node'], ['chromium', 'Chromium']]) {
    for (const n of SUITE.aesSizes) {
      const e = r[env].aes[n].impls
      for (const op of ['seal', 'open']) {
        const w = e.wasm[op].ns
        const nat2 = e.native[op].ns
        t(label, n >= 1024 ? `${n / 1024} KiB` : `${n} B`, op, `**${us(w)}**`, us(e.webcrypto[op].ns), ratio(w / e.webcrypto[op].ns), us(nat2), ratio(w / nat2), '—')
      }
    }
  }
  const alone = r.native.aes_gcm.map((a) => `${a.bytes} B seal ${us(a.seal_ns)} / open ${us(a.open_ns)}`).join('; ')
  L.push('', `Native alone (\`wallet-backup-bench-native\`): ${alone}. Every implementation's time includes its key setup per call (wasm export and native build the cipher per call; WebCrypto's key is imported once, its encrypt/decrypt is awaited per call). The +simd128 build is not timed here; its ciphertexts are cross-checked.`)
  L.push('')

  return L
}

/** The Chromium Argon2id target. */
export function enginesTarget(r) {
  const csx = r.chromium.argon2.wasm.median / r.chromium.argon2.native.median
  return { name: `Chromium Argon2id (shipped build) ≤ ${TARGETS.chromiumArgonXNative}× native`, ok: csx <= TARGETS.chromiumArgonXNative, detail: ratio(csx) }
}
