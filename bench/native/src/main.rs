//! Native reference timings for `npm run bench`.
//!
//! Prints one JSON object on stdout:
//! - Argon2id through `wallet_backup_core::kdf::Argon2idParams::derive` (the
//!   same code the wasm module runs), default parameters unless overridden;
//! - AES-256-GCM seal/open (`aes-gcm` 0.11, the crate the wasm module uses)
//!   per operation, key schedule included (as in the wasm bench exports).
//!
//! Inputs come from the command line so `bench/run.mjs` can cross-check the
//! outputs against the wasm and JS implementations:
//!   --password-hex H --salt-hex H (16 bytes) --key-hex H (32) --nonce-hex H (12)
//!   --runs N (Argon2id runs, default 15) --warmup N (default 2)
//!   --sizes 256,4096 --batches N (default 15)
//! The AES plaintext of n bytes is `p[i] = (i * 31 + 7) mod 256`.
//!
//! `--serve` instead answers one request per stdin line with one JSON line, so
//! the benchmark can interleave native runs with the wasm runs (same machine
//! conditions, even when other work shares the cores):
//!   argon2 <memory_kib> <iterations> <parallelism> <password_hex> <salt_hex>
//!       -> {"ms":…,"hex":"<32-byte output>"}   (ms measured in-process)
//!   aes-ct <n> <key_hex> <nonce_hex>            -> {"hex":"<ciphertext‖tag>"}
//!   aes-batch <seal|open> <n> <iters> <key_hex> <nonce_hex> -> {"ms":…}
//!
//! `load …` is the HTTP load generator of the service section (see `load.rs`).

mod load;

use std::hint::black_box;
use std::io::{BufRead, Write};
use std::time::Instant;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use wallet_backup_core::{Argon2idParams, SALT_LEN};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("bad hex")).collect()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn plaintext(n: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * 31 + 7) % 256) as u8).collect()
}

fn seal(key: &[u8], nonce: &[u8; 12], pt: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new_from_slice(key).expect("key must be 32 bytes");
    cipher.encrypt(&Nonce::from(*nonce), Payload { msg: pt, aad: &[] }).expect("seal")
}

fn open(key: &[u8], nonce: &[u8; 12], ct: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new_from_slice(key).expect("key must be 32 bytes");
    cipher.decrypt(&Nonce::from(*nonce), Payload { msg: ct, aad: &[] }).expect("open")
}

/// Per-op nanoseconds: `batches` batches, each sized to take ≈ 20 ms; median.
fn per_op_ns(batches: usize, mut op: impl FnMut()) -> (f64, usize) {
    // Calibrate (also the warm-up).
    let mut n = 16usize;
    loop {
        let t = Instant::now();
        for _ in 0..n {
            op();
        }
        if t.elapsed().as_secs_f64() > 0.005 || n > (1 << 24) {
            break;
        }
        n *= 2;
    }
    let t = Instant::now();
    for _ in 0..n {
        op();
    }
    let per = t.elapsed().as_secs_f64() / n as f64;
    let iters = ((0.02 / per) as usize).max(16);
    let mut samples: Vec<f64> = (0..batches)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                op();
            }
            t.elapsed().as_secs_f64() * 1e9 / iters as f64
        })
        .collect();
    (median(&mut samples), iters)
}

/// `--serve`: the line protocol described in the crate docs.
fn serve() {
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let line = line.expect("stdin");
        let w: Vec<&str> = line.split_whitespace().collect();
        let reply = match w.as_slice() {
            ["argon2", m, t, p, pw, salt] => {
                let params = Argon2idParams {
                    memory_kib: m.parse().unwrap(),
                    iterations: t.parse().unwrap(),
                    parallelism: p.parse().unwrap(),
                };
                let (pw, salt): (Vec<u8>, [u8; SALT_LEN]) =
                    (unhex(pw), unhex(salt).try_into().expect("salt must be 16 bytes"));
                let t0 = Instant::now();
                let key = params.derive(black_box(&pw), black_box(&salt)).expect("derive");
                let ms = t0.elapsed().as_secs_f64() * 1e3;
                format!("{{\"ms\":{ms:.4},\"hex\":\"{}\"}}", hex(key.expose()))
            }
            ["aes-ct", n, key, nonce] => {
                let nonce: [u8; 12] = unhex(nonce).try_into().expect("nonce must be 12 bytes");
                format!("{{\"hex\":\"{}\"}}", hex(&seal(&unhex(key), &nonce, &plaintext(n.parse().unwrap()))))
            }
            ["aes-batch", op, n, iters, key, nonce] => {
                let (key, iters) = (unhex(key), iters.parse::<usize>().unwrap());
                let nonce: [u8; 12] = unhex(nonce).try_into().expect("nonce must be 12 bytes");
                let pt = plaintext(n.parse().unwrap());
                let ct = seal(&key, &nonce, &pt);
                let t0 = Instant::now();
                match *op {
                    "seal" => (0..iters)
                        .for_each(|_| drop(black_box(seal(black_box(&key), black_box(&nonce), black_box(&pt))))),
                    "open" => (0..iters)
                        .for_each(|_| drop(black_box(open(black_box(&key), black_box(&nonce), black_box(&ct))))),
                    other => panic!("unknown op {other}"),
                }
                format!("{{\"ms\":{:.6}}}", t0.elapsed().as_secs_f64() * 1e3)
            }
            ["quit"] => break,
            _ => "{\"error\":\"unknown request\"}".to_string(),
        };
        writeln!(stdout, "{reply}").expect("stdout");
        stdout.flush().expect("stdout");
    }
}

fn main() -> std::process::ExitCode {
    if std::env::args().nth(1).as_deref() == Some("--serve") {
        serve();
        return std::process::ExitCode::SUCCESS;
    }
    if std::env::args().nth(1).as_deref() == Some("load") {
        let args: Vec<String> = std::env::args().skip(2).collect();
        return load::main(&args);
    }
    let mut password = b"correct horse battery staple".to_vec();
    let mut salt = [0u8; SALT_LEN];
    for (i, b) in salt.iter_mut().enumerate() {
        *b = i as u8;
    }
    let mut key = vec![0x42u8; 32];
    let mut nonce = [0x24u8; 12];
    let mut runs = 15usize;
    let mut warmup = 2usize;
    let mut batches = 15usize;
    let mut sizes = vec![256usize, 4096];
    let mut params = Argon2idParams::default();

    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let v = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--password-hex" => password = unhex(&v),
            "--salt-hex" => salt = unhex(&v).try_into().expect("salt must be 16 bytes"),
            "--key-hex" => key = unhex(&v),
            "--nonce-hex" => nonce = unhex(&v).try_into().expect("nonce must be 12 bytes"),
            "--runs" => runs = v.parse().expect("--runs"),
            "--warmup" => warmup = v.parse().expect("--warmup"),
            "--batches" => batches = v.parse().expect("--batches"),
            "--sizes" => sizes = v.split(',').map(|s| s.parse().expect("--sizes")).collect(),
            "--memory-kib" => params.memory_kib = v.parse().expect("--memory-kib"),
            "--iterations" => params.iterations = v.parse().expect("--iterations"),
            "--parallelism" => params.parallelism = v.parse().expect("--parallelism"),
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }

    // Argon2id.
    let mut output = Vec::new();
    for _ in 0..warmup {
        output = params.derive(&password, &salt).expect("derive").expose().to_vec();
    }
    let mut samples: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            let k = params.derive(black_box(&password), black_box(&salt)).expect("derive");
            let ms = t.elapsed().as_secs_f64() * 1e3;
            output = k.expose().to_vec();
            ms
        })
        .collect();
    let raw = samples.clone();
    let argon_median = median(&mut samples);

    // AES-256-GCM.
    let mut aes = Vec::new();
    for &n in &sizes {
        let pt = plaintext(n);
        let ct = seal(&key, &nonce, &pt);
        assert_eq!(open(&key, &nonce, &ct), pt, "AES-GCM round trip");
        let (seal_ns, seal_iters) = per_op_ns(batches, || {
            black_box(seal(black_box(&key), black_box(&nonce), black_box(&pt)));
        });
        let (open_ns, open_iters) = per_op_ns(batches, || {
            black_box(open(black_box(&key), black_box(&nonce), black_box(&ct)));
        });
        aes.push(format!(
            "{{\"bytes\":{n},\"seal_ns\":{seal_ns:.1},\"open_ns\":{open_ns:.1},\"seal_iters_per_batch\":{seal_iters},\"open_iters_per_batch\":{open_iters},\"ciphertext_hex\":\"{}\"}}",
            hex(&ct)
        ));
    }

    println!(
        "{{\"argon2id\":{{\"memory_kib\":{},\"iterations\":{},\"parallelism\":{},\"runs\":{runs},\"median_ms\":{argon_median:.3},\"samples_ms\":[{}],\"output_hex\":\"{}\"}},\"aes_gcm\":[{}],\"batches\":{batches}}}",
        params.memory_kib,
        params.iterations,
        params.parallelism,
        raw.iter().map(|v| format!("{v:.3}")).collect::<Vec<_>>().join(","),
        hex(&output),
        aes.join(",")
    );
    std::process::ExitCode::SUCCESS
}
