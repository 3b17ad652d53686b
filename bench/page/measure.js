// Measurement code shared by the Node.js runner (bench/node-bench.mjs) and the
// Chromium page (bench/page/browser.js): the same loops time every engine.
// Plain ES module, no dependencies; uses performance.now() and crypto.subtle.

export const now = () => performance.now()

export function median(values) {
  const v = [...values].sort((a, b) => a - b)
  const n = v.length
  return n === 0 ? NaN : n % 2 ? v[(n - 1) / 2] : (v[n / 2 - 1] + v[n / 2]) / 2
}

export function quantile(values, q) {
  const v = [...values].sort((a, b) => a - b)
  if (v.length === 0) return NaN
  const pos = (v.length - 1) * q
  const lo = Math.floor(pos)
  const hi = Math.ceil(pos)
  return v[lo] + (v[hi] - v[lo]) * (pos - lo)
}

export const summary = (samples) => ({
  median: median(samples),
  p10: quantile(samples, 0.1),
  p90: quantile(samples, 0.9),
  min: Math.min(...samples),
  n: samples.length,
  samples,
})

export const hex = (u8) => Array.from(u8, (b) => b.toString(16).padStart(2, '0')).join('')

export function fromHex(s) {
  const out = new Uint8Array(s.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16)
  return out
}

/** The AES plaintext of n bytes: p[i] = (i * 31 + 7) mod 256 (same in bench/native). */
export function plaintext(n) {
  const p = new Uint8Array(n)
  for (let i = 0; i < n; i++) p[i] = (i * 31 + 7) % 256
  return p
}

/**
 * A Williams design: orders of 0..n-1 in which every index takes every
 * position equally often and directly follows every other index equally
 * often (n orders for even n, 2n for odd n).
 */
export function balancedOrders(n) {
  const first = [0]
  for (let lo = 1, hi = n - 1; first.length < n; ) first.push(first.length % 2 ? lo++ : hi--)
  const orders = first.map((_, shift) => first.map((x) => (x + shift) % n))
  return n % 2 ? [...orders, ...orders.map((o) => [...o].reverse())] : orders
}

/**
 * Argon2id: every implementation derives from the same password/salt/params.
 * impls: [{ name, derive: async (password, salt) => Uint8Array(32) | { key, ms } }]
 * ({ key, ms }: the implementation timed itself — the native process).
 * Warm-up runs first, then rounds in which each implementation runs once
 * (interleaved, so slow drift of the machine hits all of them alike). The
 * order changes from round to round (balancedOrders): over every
 * orders.length rounds, each implementation runs once in each position and
 * once right after each other one, so neither the position in a round nor
 * the predecessor (hash-wasm's garbage, the native process's fresh 19 MiB)
 * favours one of them.
 */
export async function argon2Suite({ impls, password, salt, runs, warmup }) {
  const out = {}
  for (const impl of impls) {
    let key
    for (let i = 0; i < warmup; i++) key = await impl.derive(password, salt)
    out[impl.name] = { outputHex: hex(key.key ?? key), samples: [] }
  }
  const orders = balancedOrders(impls.length)
  for (let r = 0; r < runs; r++) {
    for (const i of orders[r % orders.length]) {
      const impl = impls[i]
      const t0 = now()
      const key = await impl.derive(password, salt)
      const t1 = now()
      out[impl.name].samples.push(key.ms ?? t1 - t0)
      if (hex(key.key ?? key) !== out[impl.name].outputHex) out[impl.name].unstable = true
    }
  }
  for (const impl of impls) Object.assign(out[impl.name], summary(out[impl.name].samples))
  return out
}

/**
 * AES-256-GCM per-operation time. impls: [{ name, seal(pt), open(ct), async?, checkOnly? }]
 * (async: the ops return Promises; key and nonce are bound by the caller;
 * checkOnly: ciphertext and round trip recorded for the cross-checks, not timed),
 * or [{ name, external: { ciphertext(n), batch(op, n, iters) -> ms } }] for
 * an implementation that runs and times its batches itself (native).
 * For each size and operation: calibrate a batch size of ≈ batchMs, then
 * `batches` batches per implementation (interleaved); per-op = batch time /
 * batch size; median over batches. Also returns every implementation's
 * ciphertext and whether open() gave back the plaintext.
 */
export async function aesSuite({ impls, sizes, batches, batchMs }) {
  const result = {}
  for (const n of sizes) {
    const pt = plaintext(n)
    const entry = { bytes: n, impls: {} }
    const cts = {}
    for (const impl of impls) {
      if (impl.external) {
        // The native side asserts open(seal(p)) = p itself (it panics otherwise).
        entry.impls[impl.name] = { ciphertextHex: await impl.external.ciphertext(n), roundTrip: true }
        continue
      }
      const ct = new Uint8Array(await impl.seal(pt))
      const back = new Uint8Array(await impl.open(ct))
      cts[impl.name] = ct
      entry.impls[impl.name] = { ciphertextHex: hex(ct), roundTrip: hex(back) === hex(pt) }
    }
    for (const op of ['seal', 'open']) {
      const plans = []
      for (const impl of impls) {
        if (impl.checkOnly) continue
        const input = op === 'seal' ? pt : cts[impl.name]
        const f = impl.external ? op : impl[op]
        const batch = impl.external ? (o, _input, iters) => impl.external.batch(o, n, iters) : impl.async ? asyncBatch : syncBatch
        // Calibrate: double until a batch takes ≥ 5 ms (doubles as warm-up).
        let iters = 8
        for (;;) {
          const dt = await batch(f, input, iters)
          if (dt >= 5 || iters >= 1 << 22) {
            iters = Math.max(8, Math.round((iters * batchMs) / Math.max(dt, 0.001)))
            break
          }
          iters *= 2
        }
        plans.push({ impl, f, batch, input, iters, samples: [] })
      }
      for (let b = 0; b < batches; b++) {
        for (const p of plans) {
          const dt = await p.batch(p.f, p.input, p.iters)
          p.samples.push((dt * 1e6) / p.iters) // ns per op
        }
      }
      for (const p of plans) {
        const s = summary(p.samples)
        entry.impls[p.impl.name][op] = { ns: s.median, p10: s.p10, p90: s.p90, itersPerBatch: p.iters, batches }
      }
    }
    result[n] = entry
  }
  return result
}

// Batches return elapsed ms. A synchronous op (wasm) is called in a plain
// loop; an asynchronous one (WebCrypto) is awaited op by op, which is how a
// caller uses it.
function syncBatch(f, input, iters) {
  const t0 = now()
  for (let i = 0; i < iters; i++) f(input)
  return now() - t0
}
async function asyncBatch(f, input, iters) {
  const t0 = now()
  for (let i = 0; i < iters; i++) await f(input)
  return now() - t0
}

/** WebCrypto AES-256-GCM (key imported once; each op is one encrypt/decrypt call). */
export async function webCryptoAes(subtle, keyBytes, nonce) {
  const key = await subtle.importKey('raw', keyBytes, { name: 'AES-GCM' }, false, ['encrypt', 'decrypt'])
  const alg = { name: 'AES-GCM', iv: nonce, tagLength: 128 }
  return {
    async: true,
    seal: (pt) => subtle.encrypt(alg, key, pt),
    open: (ct) => subtle.decrypt(alg, key, ct),
  }
}

/**
 * Password backup and recovery through the real Portal API with in-memory
 * keychain/custodian adapters. Checks that every recovery restores the
 * original shares.
 */
export async function portalSuite({ Portal, runs, warmup, password }) {
  const original = JSON.stringify({ secp256k1: { id: 'bench-share', share: 'ab'.repeat(64) }, ed25519: { id: 'bench-share-2', share: 'cd'.repeat(32) } })
  let shares = original
  let custody = null
  const keychain = { async getShares() { return shares }, async setShares(s) { shares = s } }
  const custodian = { async read() { return custody }, async write(r) { custody = r } }
  const portal = new Portal({ keychain, custodian })
  const config = { passwordStorage: { password } }
  const onProgress = () => {}
  const backup = []
  const recover = []
  let recoveredOk = true
  let cipherTextLength = 0
  for (let i = 0; i < warmup + runs; i++) {
    shares = original
    let t0 = now()
    const ct = await portal.backupWallet('password', onProgress, config)
    let t1 = now()
    if (i >= warmup) backup.push(t1 - t0)
    cipherTextLength = ct.length
    shares = ''
    t0 = now()
    await portal.recoverWallet(ct, 'password', onProgress, config)
    t1 = now()
    if (i >= warmup) recover.push(t1 - t0)
    if (shares !== original) recoveredOk = false
  }
  return { backup: summary(backup), recover: summary(recover), recoveredOk, cipherTextLength }
}

/** Result name of a bench wasm variant: `baseline` (the settings of pkg/) is "wasm". */
export const wasmImplName = (variant) => (variant === 'baseline' ? 'wasm' : `wasm-${variant}`)

/**
 * The whole in-engine suite. env supplies the modules, so Node.js and the
 * browser run identical code:
 *   env.wasm = { baseline, simd }  (bench-feature glue modules, already
 *     initialised; see bench/build-wasm.mjs). Argon2id times both; AES-GCM
 *     times the baseline (shipped settings) and only cross-checks the others.
 *   env.hashWasmArgon2id, env.Portal, env.subtle
 *   env.native: async (requestLine) => reply, the native bench process
 *     (bench/native-client.mjs), run interleaved with the wasm runs
 */
export async function runSuite(env, cfg) {
  const password = fromHex(cfg.passwordHex)
  const salt = fromHex(cfg.saltHex)
  const key = fromHex(cfg.keyHex)
  const nonce = fromHex(cfg.nonceHex)
  const { memoryKiB, iterations, parallelism } = cfg.argon2
  const out = { userAgent: typeof navigator !== 'undefined' ? navigator.userAgent : `node ${process.version}` }

  // Portal first: it is what users run; also warms the allocator paths.
  out.portal = await portalSuite({ Portal: env.Portal, runs: cfg.portalRuns, warmup: cfg.portalWarmup, password: cfg.portalPassword })

  const impls = [
    ...Object.entries(env.wasm).map(([variant, m]) => ({
      name: wasmImplName(variant),
      derive: async (pw, s) => m.benchArgon2id(pw, s, memoryKiB, iterations, parallelism),
    })),
    {
      name: 'hash-wasm',
      derive: (pw, s) => env.hashWasmArgon2id({ password: pw, salt: s, iterations, parallelism, memorySize: memoryKiB, hashLength: 32, outputType: 'binary' }),
    },
    ...(env.native
      ? [{
          name: 'native',
          derive: async (pw, s) => {
            const r = await env.native(`argon2 ${memoryKiB} ${iterations} ${parallelism} ${hex(pw)} ${hex(s)}`)
            return { key: fromHex(r.hex), ms: r.ms }
          },
        }]
      : []),
  ]
  out.argon2 = await argon2Suite({ impls, password, salt, runs: cfg.argon2Runs, warmup: cfg.argon2Warmup })

  const web = await webCryptoAes(env.subtle, key, nonce)
  const aesImpls = [
    ...Object.entries(env.wasm).map(([variant, m]) => ({
      name: wasmImplName(variant),
      checkOnly: variant !== 'baseline',
      seal: (pt) => m.benchAesGcmSeal(key, nonce, pt),
      open: (ct) => m.benchAesGcmOpen(key, nonce, ct),
    })),
    { name: 'webcrypto', ...web },
    ...(env.native
      ? [{
          name: 'native',
          external: {
            ciphertext: async (n) => (await env.native(`aes-ct ${n} ${cfg.keyHex} ${cfg.nonceHex}`)).hex,
            batch: async (op, n, iters) => (await env.native(`aes-batch ${op} ${n} ${iters} ${cfg.keyHex} ${cfg.nonceHex}`)).ms,
          },
        }]
      : []),
  ]
  out.aes = await aesSuite({ impls: aesImpls, sizes: cfg.aesSizes, batches: cfg.aesBatches, batchMs: cfg.aesBatchMs })
  return out
}
