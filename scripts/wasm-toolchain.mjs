// How this project compiles its wasm: the one place that holds the cargo,
// RUSTFLAGS, wasm-bindgen and wasm-opt settings, shared by scripts/build.mjs
// (pkg/) and bench/build-wasm.mjs (bench-only builds), so both stay equal.
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const root = join(dirname(fileURLToPath(import.meta.url)), '..')

/** Features of the wasm the module is built for (wasm-opt must be told). */
export const WASM_OPT_FEATURES = [
  '--enable-bulk-memory', '--enable-mutable-globals', '--enable-nontrapping-float-to-int',
  '--enable-sign-ext', '--enable-reference-types', '--enable-multivalue',
]

export function run(cmd, args, env = {}) {
  execFileSync(cmd, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, ...env } })
}

/**
 * RUSTFLAGS of a wasm build.
 * - `mvp`: the wasm MVP feature set plus mutable globals, for the React
 *   Native build (wasm2js turns it into JavaScript, and handles neither
 *   reference types, bulk memory nor the rest of today's default set).
 * - SHA-256 hashes a few hundred bytes per backup (HKDF, checksum, digest):
 *   its compact software backend is ~3 KB gzip smaller than the unrolled one.
 * - Panic locations name source files: map the build machine's paths away.
 * - LLVM's inliner at opt-level "z"'s threshold (25; "s" has 75) everywhere:
 *   the async state machines of the flows inline fewer copies of their
 *   helpers (~2 KB gzip less). Argon2id's loop is unaffected (its block
 *   functions are `#[inline(always)]`; measured unchanged in Node.js) and
 *   AES-GCM measured faster. Only the inliner: opt-level "z" on the root
 *   crate made Argon2id 40% slower (see Cargo.toml).
 * - `simd`: +simd128, for the benchmark's comparison only. Measured here it
 *   makes Argon2id slower (V8 lowers i64x2.mul to several instructions), so
 *   the package ships the baseline build.
 */
export function rustflags({ simd = false, mvp = false } = {}) {
  const flags = ['--cfg', 'sha2_backend="soft"', '--cfg', 'sha2_backend_soft="compact"', '-C', 'llvm-args=-inline-threshold=25']
  if (mvp) flags.push('-C', 'target-cpu=mvp', '-C', 'target-feature=+mutable-globals')
  const registry = join(process.env.CARGO_HOME ?? join(homedir(), '.cargo'), 'registry', 'src')
  if (existsSync(registry)) {
    for (const index of readdirSync(registry)) flags.push(`--remap-path-prefix=${join(registry, index)}=crates`)
  }
  flags.push(`--remap-path-prefix=${root}=wallet-backup`)
  // With rust-src installed (the React Native build's -Zbuild-std needs it),
  // rustc names std's sources by their local path: map the toolchain away too.
  const sysroot = execFileSync('rustc', ['--print', 'sysroot'], { encoding: 'utf8' }).trim()
  flags.push(`--remap-path-prefix=${join(sysroot, 'lib', 'rustlib', 'src', 'rust')}=rust`)
  if (simd) flags.unshift('-C', 'target-feature=+simd128')
  return flags.join(' ')
}

function cargoWasmArgs({ targetDir, features = [], simd = false, mvp = false }) {
  const env = { ...process.env, RUSTFLAGS: rustflags({ simd, mvp }) }
  // cargo ignores RUSTFLAGS whenever CARGO_ENCODED_RUSTFLAGS is set, even empty.
  delete env.CARGO_ENCODED_RUSTFLAGS
  const args = ['build', '--release', '--target', 'wasm32-unknown-unknown', '-p', 'wallet-backup', '--target-dir', targetDir]
  if (features.length) args.push('--features', features.join(','))
  if (mvp) {
    // The shipped std is built with today's default features: rebuild it
    // for the MVP from rust-src. -Zbuild-std on stable needs RUSTC_BOOTSTRAP.
    args.push('-Zbuild-std=std,panic_abort')
    env.RUSTC_BOOTSTRAP = '1'
  }
  return { args, env, wasm: join(targetDir, 'wasm32-unknown-unknown', 'release', 'wallet_backup.wasm') }
}

/** `cargo build --release` of the wasm crate; returns the .wasm path. */
export function cargoBuildWasm(options) {
  const { args, env, wasm } = cargoWasmArgs(options)
  execFileSync('cargo', args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], env })
  return wasm
}

const quote = (arg) => `'${String(arg).replaceAll("'", "'\\''")}'`

/**
 * The React Native build's wasm steps in one child process, so that they
 * run while the caller's synchronous steps block its event loop: cargo
 * (MVP), wasm-bindgen `--target bundler` into `outDir`, then wasm2js of
 * its wasm into `wallet_backup_bg.wasm.js`. Resolves when all are done.
 */
export function buildMvpToJs({ targetDir, outDir }) {
  const { args, env, wasm } = cargoWasmArgs({ targetDir, mvp: true, features: ['react-native'] })
  const bg = join(outDir, 'wallet_backup_bg.wasm')
  const steps = [
    ['cargo', ...args],
    ['rm', '-rf', outDir],
    ['wasm-bindgen', ...bindgenArgs(wasm, 'bundler', outDir)],
    [join(root, 'node_modules', '.bin', 'wasm2js'), ...WASM2JS_ARGS, bg, '-o', join(outDir, 'wallet_backup_bg.wasm.js')],
  ]
  const script = steps.map((step) => step.map(quote).join(' ')).join(' && ')
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', script], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], env })
    child.on('error', reject)
    child.on('close', (code) => (code === 0 ? resolve(outDir) : reject(new Error(`React Native wasm build exited with ${code}`))))
  })
}

/** wasm-bindgen for one JS target (`web`, `nodejs`, `bundler`) into `outDir`. */
export function bindgen(wasm, target, outDir) {
  rmSync(outDir, { recursive: true, force: true })
  run('wasm-bindgen', bindgenArgs(wasm, target, outDir))
}

function bindgenArgs(wasm, target, outDir) {
  // The web entry always passes the wasm's URL, so the glue needs no default path.
  const omit = target === 'web' ? ['--omit-default-module-path'] : []
  return ['--target', target, ...omit, '--remove-name-section', '--remove-producers-section', '--out-dir', outDir, wasm]
}

/**
 * wasm-opt -Oz. LLVM already optimised Argon2id's loop at opt-level 3;
 * measured here, -Oz leaves its speed unchanged and saves ~150 B gzip over -O3.
 * - Functions with one caller stay functions unless tiny (binaryen's default
 *   inlines them up to any size): the module is a little larger but
 *   compresses ~1.8 KB gzip better, as the flows' big functions are less
 *   alike copies of each other. Argon2id's time measured unchanged.
 * - `--converge`: -Oz again while it still shrinks the module (~250 B gzip).
 * - The target_features section is for tools, not engines.
 */
const WASM_OPT_ARGS = ['-Oz', '--one-caller-inline-max-function-size=20', '--converge', '--strip-debug', '--strip-producers', '--strip-target-features']

export function wasmOpt(input, output, { simd = false } = {}) {
  const flags = [...WASM_OPT_FEATURES, ...(simd ? ['--enable-simd'] : [])]
  run(join(root, 'node_modules', '.bin', 'wasm-opt'), [...WASM_OPT_ARGS, ...flags, input, '-o', output])
}

/**
 * wasm-opt as {@link wasmOpt}, then short names for the module's imports
 * and exports (binaryen's --minify-imports-and-exports-and-modules), written
 * into the wasm-bindgen glue files `glues` (unminified, as wasm-bindgen wrote
 * them) in place. wasm-bindgen names every import `__wbg_<name>_<16 hex
 * digits>` and the glue repeats each name: ~85 long names in both files,
 * which gzip cannot shrink (the hashes), for ~2.8 KB gzip of the web build.
 * Only the glue ever sees these names. Every name must be found where
 * wasm-bindgen puts it (an import object key, a `wasm.<export>` use), or the
 * build fails rather than ship glue that does not fit its wasm.
 */
export function wasmOptMinified(input, output, glues) {
  // A run of its own: --converge would repeat the renaming (and print a map per round).
  const optimized = `${input}.opt.wasm`
  wasmOpt(input, optimized)
  const args = ['--minify-imports-and-exports-and-modules', '--strip-target-features', ...WASM_OPT_FEATURES, optimized, '-o', output]
  const map = JSON.parse(execFileSync(join(root, 'node_modules', '.bin', 'wasm-opt'), args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }))
  rmSync(optimized)
  const modules = [...new Set(WebAssembly.Module.imports(new WebAssembly.Module(readFileSync(output))).map((i) => i.module))]
  if (modules.length !== 1) throw new Error(`minified wasm imports from ${modules.length} modules, expected 1`)
  const escape = (name) => name.replace(/[$.]/g, '\\$&')
  for (const glue of glues) {
    let text = readFileSync(glue, 'utf8')
    // Replaces the one match of `pattern` (with `g`: every match, at least one) by `to(...groups)`.
    const replace = (pattern, to, what) => {
      const found = text.match(new RegExp(pattern.source, 'gm'))?.length ?? 0
      if (found === 0 || (found > 1 && !pattern.global)) throw new Error(`${glue}: ${what} found ${found} times`)
      text = text.replace(pattern, (_, ...groups) => to(...groups))
    }
    for (const [module, name, short] of map.imports) {
      if (module !== './wallet_backup_bg.js') throw new Error(`import from unexpected module ${module}`)
      replace(new RegExp(`^(\\s+)${escape(name)}(: function\\()`, 'm'), (indent, rest) => indent + short + rest, `import ${name}`)
    }
    replace(/^(\s+)"\.\/wallet_backup_bg\.js"(: import0,?)$/m, (indent, rest) => indent + JSON.stringify(modules[0]) + rest, 'the import object')
    for (const [name, short] of map.exports) {
      // wasm-bindgen's abort-handler globals and `__wbindgen_free` are exported but unused by this glue.
      if (new RegExp(`\\bwasm\\.${escape(name)}\\b`).test(text)) replace(new RegExp(`\\bwasm\\.${escape(name)}\\b`, 'g'), () => `wasm.${short}`, `export ${name}`)
    }
    for (const [, name] of map.imports) if (text.includes(name)) throw new Error(`${glue}: import ${name} still named`)
    for (const [name] of map.exports) if (new RegExp(`\\bwasm\\.${escape(name)}\\b`).test(text)) throw new Error(`${glue}: export ${name} still named`)
    writeFileSync(glue, text)
  }
}

/**
 * binaryen's wasm2js -Oz: the wasm as a JavaScript module, for engines
 * without WebAssembly (Hermes). The input must be an MVP build. (-Oz takes
 * ~25 s here; -O1 ~11 s for a file ~10% larger.)
 */
const WASM2JS_ARGS = ['-Oz', '--enable-mutable-globals']

/**
 * Source lowered to ES5 by TypeScript's transpiler: Hermes 0.12 (and any
 * Hermes without Metro's Babel in front) has no class syntax and no
 * private fields, which esbuild cannot lower. Modules stay ES modules.
 */
export async function lowerToEs5(source, fileName) {
  const { default: ts } = await import('typescript')
  return ts.transpileModule(source, {
    fileName,
    compilerOptions: { target: ts.ScriptTarget.ES5, module: ts.ModuleKind.ESNext, downlevelIteration: true, removeComments: true },
  }).outputText
}
