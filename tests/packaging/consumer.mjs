// Shared by the packaging tests (not a test file itself): `npm pack` of
// pkg/ and a fresh consumer project, in a temp dir, with that tarball
// installed, as users get it. Offline: installs the local tarball only.

import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { cp, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const PKG = join(ROOT, 'pkg')
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm'

export function run(cmd, args, options = {}) {
  return new Promise((resolve) => {
    execFile(cmd, args, { maxBuffer: 256 << 20, timeout: 120_000, ...options }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr, error })
    })
  })
}

export async function runOk(cmd, args, options) {
  const r = await run(cmd, args, options)
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')} failed (${r.code}):\n${r.stdout}\n${r.stderr}`)
  return r
}

/**
 * Packs pkg/ and installs the tarball into `<tmp>/consumer`, after copying
 * the files of `fixture` (a directory) there. `packageJson` is the
 * consumer's package.json unless the fixture has one.
 */
export async function packAndInstall(name, { fixture, packageJson } = {}) {
  assert.ok(existsSync(join(PKG, 'package.json')), 'pkg/ is missing: run `node scripts/build.mjs` first')
  const tmp = await mkdtemp(join(tmpdir(), `wallet-backup-${name}-`))
  const packDir = join(tmp, 'pack')
  const consumer = join(tmp, 'consumer')
  await mkdir(packDir, { recursive: true })
  await mkdir(consumer, { recursive: true })
  const packed = await runOk(NPM, ['pack', '--json', '--pack-destination', packDir], { cwd: PKG })
  const [packInfo] = JSON.parse(packed.stdout)
  packInfo.tarball = join(packDir, packInfo.filename)
  if (fixture) for (const f of await readdir(fixture)) await cp(join(fixture, f), join(consumer, f), { recursive: true })
  if (!existsSync(join(consumer, 'package.json'))) {
    await writeFile(join(consumer, 'package.json'), JSON.stringify(packageJson ?? { name: `wallet-backup-${name}`, private: true }, null, 2))
  }
  await runOk(NPM, ['install', '--no-audit', '--no-fund', '--loglevel=error', packInfo.tarball], { cwd: consumer })
  return {
    tmp,
    consumer,
    packInfo,
    installed: join(consumer, 'node_modules', 'wallet-backup'),
    /** Copies a package from the workspace's node_modules into the consumer's (no registry). */
    async addFromWorkspace(pkgName) {
      await cp(join(ROOT, 'node_modules', pkgName), join(consumer, 'node_modules', pkgName), { recursive: true })
    },
    cleanup: () => rm(tmp, { recursive: true, force: true }),
  }
}
