// Section 11's rounds in one engine, shared by Node.js (bench/sections/pin-guard.mjs on pkg/node)
// and the Chromium page (on pkg/web): a password backup through the real Portal against the
// release service, then recoverWallet(cipherText) on a new device, without and with a guess limit,
// interleaved. Plain ES module, no dependencies.
import { quantile, summary } from './measure.js'

const SHARES = JSON.stringify({ secp256k1: { id: 'bench-pin-guard', share: 'cd'.repeat(32) } })

/** The two cases: a plain password backup and the same PIN, guess-limited. */
export const PIN_GUARD_CASES = {
  'password (no guess limit)': { password: 'bench pin 482916' },
  'password, guess-limited (OPRF with the service)': { password: 'bench pin 482916', guessLimited: true },
}

/** summary() plus p99. */
const withP99 = (samples) => ({ ...summary(samples), p99: quantile(samples, 0.99) })

/**
 * `warmup` unrecorded rounds, then `runs` recorded ones; each round runs every case once (the
 * order alternates from round to round), a backup on one device and a recovery with the
 * cipherText on a new one whose keychain is empty. Resolves { recoveredOk, failures, cases:
 * { name: { backup, recovery } } } with summaries in ms (p99 included).
 */
export async function pinGuardRounds({ Portal, apiKey, apiHost, runs, warmup }) {
  const names = Object.keys(PIN_GUARD_CASES)
  const samples = Object.fromEntries(names.map((n) => [n, { backup: [], recovery: [] }]))
  let recoveredOk = true
  const failures = []
  for (let round = -warmup; round < runs; round++) {
    const order = round % 2 ? [...names].reverse() : names
    for (const name of order) {
      const config = { passwordStorage: { ...PIN_GUARD_CASES[name] } }
      const device = (state) => new Portal({ apiKey, apiHost, keychain: { getShares: async () => state.shares, setShares: async (v) => void (state.shares = v) } })
      const phone1 = { shares: SHARES }
      let t = performance.now()
      const cipherText = await device(phone1).backupWallet('password', null, config)
      const backupMs = performance.now() - t
      const phone2 = { shares: '' }
      t = performance.now()
      try {
        await device(phone2).recoverWallet(cipherText, 'password', null, config)
      } catch (e) {
        failures.push(`${name}: ${e?.code ?? ''} ${e?.message ?? e}`)
      }
      const recoveryMs = performance.now() - t
      if (phone2.shares !== SHARES) recoveredOk = false
      if (round >= 0) {
        samples[name].backup.push(backupMs)
        samples[name].recovery.push(recoveryMs)
      }
    }
  }
  const cases = {}
  for (const [name, s] of Object.entries(samples)) cases[name] = { backup: withP99(s.backup), recovery: withP99(s.recovery) }
  return { recoveredOk: recoveredOk && failures.length === 0, failures: failures.slice(0, 3), cases }
}
