// Client of `wallet-backup-bench-native --serve` (bench/native/src/main.rs):
// one request line in, one JSON line out. The benchmark uses it to run native
// Argon2id / AES-GCM interleaved with the wasm runs, so "× native" compares
// runs made under the same machine conditions. Timings are measured inside
// the native process; the pipe round trip is not part of them.
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { cargoTargetDir } from '../dev/service.mjs'

/** bench/native's release binary (bench/run.mjs builds it with the release service). */
export const nativeBinary = () => join(cargoTargetDir(), 'release', process.platform === 'win32' ? 'wallet-backup-bench-native.exe' : 'wallet-backup-bench-native')

export function startNative(bin) {
  const child = spawn(bin, ['--serve'], { stdio: ['pipe', 'pipe', 'inherit'] })
  const waiting = []
  let buf = ''
  let dead = null
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (d) => {
    buf += d
    let i
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i)
      buf = buf.slice(i + 1)
      const w = waiting.shift()
      if (!w) continue
      const v = JSON.parse(line)
      if (v.error) w.reject(new Error(`native: ${v.error}`))
      else w.resolve(v)
    }
  })
  const fail = (e) => {
    dead = e
    for (const w of waiting.splice(0)) w.reject(e)
  }
  child.on('error', fail)
  child.on('exit', (code, signal) => fail(new Error(`native bench process exited (${code ?? signal})`)))
  // Requests are serialised: the next is written only when the previous answered.
  let chain = Promise.resolve()
  const request = (line) => {
    const p = chain.then(() => new Promise((resolve, reject) => {
      if (dead) return reject(dead)
      waiting.push({ resolve, reject })
      child.stdin.write(line + '\n')
    }))
    chain = p.catch(() => {})
    return p
  }
  const close = () => new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once('exit', () => resolve())
    child.stdin.end()
    setTimeout(() => child.kill('SIGKILL'), 2000).unref()
  })
  return { request, close, pid: child.pid }
}
