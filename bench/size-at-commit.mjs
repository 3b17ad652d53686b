// The shipped web build's size at an earlier commit, for a before/after figure that section 1
// cannot give (it measures pkg/ as built now): the commit's tree (git archive) in a temp folder,
// built with that tree's own scripts/wasm-toolchain.mjs the way its scripts/build.mjs builds
// pkg/web (cargo, wasm-bindgen, wasm-opt with the short names, esbuild --minify of the glue),
// then measured as section 1 measures (gzip -9, KB = 1000 B). The first build of a tree compiles
// every dependency for wasm32 (a few minutes on 2 cores).
//
//   node bench/size-at-commit.mjs 09d82f0^      (the tree before issue 15's OPRF)
//   node bench/size-at-commit.mjs 09d82f0^ --keep   (keeps the temp folder and its target/)
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { gzipSync } from 'node:zlib'
import { root } from './build-wasm.mjs'

const [commit] = process.argv.slice(2).filter((a) => !a.startsWith('--'))
if (!commit) throw new Error('usage: node bench/size-at-commit.mjs COMMIT [--keep]')
const rev = execFileSync('git', ['rev-parse', '--short', commit], { cwd: root, encoding: 'utf8' }).trim()
const dir = mkdtempSync(join(tmpdir(), `wallet-backup-size-${rev}-`))
try {
  execFileSync('sh', ['-c', `git archive ${rev} | tar -x -C '${dir}'`], { cwd: root, stdio: 'inherit' })
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules')) // its wasm-opt and esbuild
  const t = await import(pathToFileURL(join(dir, 'scripts', 'wasm-toolchain.mjs')).href)
  const wasm = t.cargoBuildWasm({ targetDir: join(dir, 'target', 'wasm-release') })
  const gen = join(dir, 'target', 'bindgen')
  t.bindgen(wasm, 'web', join(gen, 'web'))
  t.bindgen(wasm, 'nodejs', join(gen, 'node'))
  const out = join(dir, 'out')
  mkdirSync(out)
  t.wasmOptMinified(join(gen, 'web', 'wallet_backup_bg.wasm'), join(out, 'wallet_backup_bg.wasm'), [join(gen, 'web', 'wallet_backup.js'), join(gen, 'node', 'wallet_backup.js')])
  execFileSync(join(root, 'node_modules', '.bin', 'esbuild'), [join(gen, 'web', 'wallet_backup.js'), '--minify', '--format=esm', '--log-level=warning', `--outfile=${join(out, 'wallet_backup.js')}`])
  const size = (f) => {
    const b = readFileSync(join(out, f))
    return { raw: b.length, gzip: gzipSync(b, { level: 9 }).length }
  }
  const w = size('wallet_backup_bg.wasm')
  const g = size('wallet_backup.js')
  console.log(JSON.stringify({ commit: rev, wasm: w, glue: g, wasmGlueGzip: w.gzip + g.gzip }))
} finally {
  if (process.argv.includes('--keep')) console.error(`kept ${dir}`)
  else rmSync(dir, { recursive: true, force: true })
}
