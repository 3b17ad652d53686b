//! wasm-bindgen tests of the exports, run in Node.js and in headless
//! Chromium by the same build (see scripts/test.mjs): every test vector,
//! the error-code table, progress, and a memory-growing round trip.
//!
//! Passkey vectors go through `recoverWallet('passkey')` whole: a stand-in
//! for the backup service (`fetch`) serves the vector's custodian half and
//! the enclave's key, and stand-in passkey functions answer as an
//! authenticator with the vector's credential and PRF output. iCloud vectors
//! go through `recoverWallet('icloud')` with a key-value store holding the
//! vector's keys record. Guess-limited PIN vectors go through
//! `recoverWallet('password')` with a stand-in service whose guard evaluates
//! under the vector's OPRF key and releases the half for a proof made with
//! its unlock key (FORMAT.md §3.4.1.1).

#![cfg(target_arch = "wasm32")]

use js_sys::{Array, Reflect, JSON};
use wallet_backup::{backup_wallet, recover_wallet, Failure};
use wallet_backup_core::testing::format;
use wallet_backup_core::testing::passkey::PasskeyParams;
use wallet_backup_core::testing::record::CustodianRecord as Record;
use wallet_backup_core::{backup_id_hex, base64url, encode_custodian_half, Error};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

const VECTORS: &[(&str, &str)] = include!("vectors/index.rs");

#[wasm_bindgen(inline_js = r#"
export function memoryKeychain(shares) {
  const k = { shares, async getShares() { return k.shares }, async setShares(s) { k.shares = s } }
  return k
}
export function memoryCustodian(record) {
  const c = { record, async read() { return c.record }, async write(r) { c.record = r } }
  return c
}
export function recorder() {
  const seen = []
  const f = (e) => { seen.push(e.status + (e.done ? '!' : '')) }
  f.seen = seen
  return f
}
export function callConfig(keychain, custodian, password) {
  return { keychain, custodian, passwordStorage: { password } }
}
// An iCloud key-value store (React Native's form) holding `keysRecord`; recovery only reads it.
export function icloudConfig(keychain, custodian, keysRecord) {
  const keyValueStore = {
    reads: 0,
    async getItem(key) { keyValueStore.reads++; return key === 'wallet-backup-keys' ? keysRecord : null },
    async setItem() { throw new Error('recovery writes no keys record') },
    async removeItem() { throw new Error('recovery removes no keys record') },
  }
  return { keychain, custodian, icloud: { keyValueStore } }
}
// The backup service and an authenticator for one passkey vector. `halves`
// maps backup ids (hex) to custodian halves; the rest is base64url or null.
export function passkeyWorld(keychain, halves, credentialId, prfOutput, backupKey) {
  const w = { requests: [], bodies: [], gets: [], released: 0 }
  const reply = (status, body) => ({ status, text: async () => JSON.stringify(body) })
  w.fetch = async (url, init) => {
    const path = new URL(url).pathname
    w.requests.push(init.method + ' ' + path)
    w.bodies.push(init.body ? JSON.parse(init.body) : null)
    const share = /^\/api\/v3\/clients\/me\/custodian-shares\/([0-9a-f]{32})$/.exec(path)
    if (init.method === 'GET' && share) {
      const half = halves[share[1]]
      if (!half) return reply(404, { error: { code: 'PAIR_NOT_FOUND' } })
      return reply(200, { pairId: 'pair-1', backupId: share[1], backupMethod: 'PASSKEY', custodianShare: half })
    }
    if (init.method === 'POST' && path === '/passkeys/begin-login') {
      return reply(200, { ceremonyId: 'ceremony-1', options: { challenge: 'Y2hhbGxlbmdlLTE', rpId: 'vectors.invalid', userVerification: 'required' } })
    }
    if (init.method === 'POST' && path === '/passkeys/finish-login/read') {
      if (!backupKey) return reply(404, { error: { code: 'ENCRYPTION_KEY_NOT_FOUND' } })
      w.released++
      return reply(200, { encryptionKey: backupKey })
    }
    return reply(404, { error: { code: 'NOT_FOUND' } })
  }
  // rpIdHash (zeros), flags UP|UV, sign count 1.
  const authenticatorData = btoa(String.fromCharCode(...new Uint8Array(32), 0x05, 0, 0, 0, 1)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
  const passkeys = {
    async create() { throw new Error('recovery registers no passkey') },
    async get(options) {
      w.gets.push(options)
      const results = {}
      if (options.extensions && options.extensions.prf && prfOutput) results.prf = { results: { first: prfOutput } }
      return {
        id: credentialId, rawId: credentialId, type: 'public-key',
        response: { clientDataJSON: 'e30', authenticatorData, signature: 'c2ln', userHandle: null },
        clientExtensionResults: results,
      }
    },
  }
  w.config = { keychain, apiKey: 'vectors-api-key', apiHost: 'vectors.invalid', passkey: { passkeys } }
  return w
}
// The backup service's guard for one guess-limited vector: `evaluate` (Rust)
// maps a blinded element to the evaluated one, `proves` (Rust) checks an unlock
// proof for the one challenge it hands out.
export function guardWorld(keychain, password, backupId, half, evaluate, proves) {
  const w = { requests: [], unlocked: 0 }
  const reply = (status, body) => ({ status, text: async () => JSON.stringify(body) })
  const challenge = 'BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc'
  const guard = '/api/v3/clients/me/pin-guards/' + backupId
  w.fetch = async (url, init) => {
    const path = new URL(url).pathname
    w.requests.push(init.method + ' ' + path)
    const body = init.body ? JSON.parse(init.body) : null
    if (path.startsWith('/api/v3/clients/me/custodian-shares/')) return reply(403, { error: { code: 'PIN_PROOF_REQUIRED' } })
    if (init.method === 'GET' && path === guard) return reply(200, { backupId, guessLimit: 10, guessesLeft: 10 })
    if (init.method === 'POST' && path === guard + '/evaluate') {
      return reply(200, { evaluatedElement: evaluate(body.blindedElement), challenge, guessLimit: 10, guessesLeft: 9 })
    }
    if (init.method === 'POST' && path === guard + '/unlock') {
      if (body.challenge !== challenge || !proves(body.proof)) return reply(403, { error: { code: 'WRONG_PASSWORD', guessesLeft: 9 } })
      w.unlocked++
      return reply(200, { pairId: 'pair-1', backupId, backupMethod: 'PASSWORD', status: 'COMPLETED', custodianShare: half })
    }
    return reply(404, { error: { code: half ? 'NOT_FOUND' : 'PAIR_NOT_FOUND' } })
  }
  w.config = { keychain, apiKey: 'vectors-api-key', apiHost: 'vectors.invalid', passwordStorage: { password } }
  return w
}
export function swapFetch(f) {
  const previous = globalThis.fetch
  globalThis.fetch = f
  return previous
}
"#)]
extern "C" {
    #[wasm_bindgen(js_name = memoryKeychain)]
    fn memory_keychain(shares: &JsValue) -> JsValue;
    #[wasm_bindgen(js_name = memoryCustodian)]
    fn memory_custodian(record: &JsValue) -> JsValue;
    fn recorder() -> JsValue;
    #[wasm_bindgen(js_name = callConfig)]
    fn call_config(keychain: &JsValue, custodian: &JsValue, password: &str) -> JsValue;
    #[wasm_bindgen(js_name = icloudConfig)]
    fn icloud_config(keychain: &JsValue, custodian: &JsValue, keys_record: &JsValue) -> JsValue;
    #[wasm_bindgen(js_name = passkeyWorld)]
    fn passkey_world(
        keychain: &JsValue,
        halves: &JsValue,
        credential_id: &str,
        prf_output: &JsValue,
        backup_key: &JsValue,
    ) -> JsValue;
    #[wasm_bindgen(js_name = guardWorld)]
    fn guard_world(
        keychain: &JsValue,
        password: &str,
        backup_id: &str,
        half: &str,
        evaluate: &js_sys::Function,
        proves: &js_sys::Function,
    ) -> JsValue;
    #[wasm_bindgen(js_name = swapFetch)]
    fn swap_fetch(f: &JsValue) -> JsValue;
}

/// The stand-in service of a guess-limited vector (see `guardWorld`), its
/// OPRF and proof check done here with the vector's keys.
/// A Rust function the stand-in service calls from JavaScript.
type StandIn = Closure<dyn Fn(String) -> JsValue>;

fn guard_world_of(case: &JsValue, keychain: &JsValue) -> (JsValue, Vec<StandIn>) {
    use wallet_backup_core::testing::pin_guard::{blind_evaluate, unlock_proof};
    use wallet_backup_core::{from_base64url, SecretKey};
    let guard = prop(case, "guessLimited");
    let key = |name: &str| -> [u8; 32] { unhex(&prop(&guard, name).as_string().unwrap()).try_into().unwrap() };
    let (oprf_key, unlock_key) = (key("oprfKey"), key("unlockKey"));
    let envelope = format::decode(&prop(case, "cipherText").as_string().unwrap()).unwrap();
    let backup_id = envelope.header.backup_id;
    let record = Record::decode(&prop(case, "custodianRecord").as_string().unwrap()).unwrap();
    let half = record.entries().iter().find(|e| e.backup_id == backup_id).map(|e| encode_custodian_half(&e.share));
    let evaluate = Closure::<dyn Fn(String) -> JsValue>::new(move |blinded: String| {
        let blinded: [u8; 32] = from_base64url(&blinded, 32).unwrap().as_slice().try_into().unwrap();
        JsValue::from_str(&base64url(&blind_evaluate(&oprf_key, &blinded)))
    });
    let proves = Closure::<dyn Fn(String) -> JsValue>::new(move |proof: String| {
        let expected = unlock_proof(&SecretKey::from_bytes(unlock_key), &backup_id, &[7; 32]).unwrap();
        JsValue::from_bool(from_base64url(&proof, 32).is_some_and(|p| p.as_slice() == expected))
    });
    let world = guard_world(
        keychain,
        &prop(case, "password").as_string().unwrap(),
        &backup_id_hex(&backup_id),
        half.as_ref().map_or("", |h| h.as_str()),
        evaluate.as_ref().unchecked_ref(),
        proves.as_ref().unchecked_ref(),
    );
    (world, vec![evaluate, proves])
}

fn prop(obj: &JsValue, name: &str) -> JsValue {
    Reflect::get(obj, &name.into()).unwrap()
}

fn code_of(err: &JsValue) -> String {
    assert!(err.is_instance_of::<js_sys::Error>(), "not an Error: {err:?}");
    prop(err, "code").as_string().expect("error without a code")
}

fn seen(rec: &JsValue) -> Vec<String> {
    Array::from(&prop(rec, "seen")).iter().map(|v| v.as_string().unwrap()).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

/// The vector's hex field as base64url, or null when absent.
fn b64_field(case: &JsValue, name: &str) -> JsValue {
    prop(case, name).as_string().map_or(JsValue::NULL, |hex| base64url(&unhex(&hex)).into())
}

/// The service and authenticator of a passkey vector (see `passkeyWorld`).
fn passkey_world_of(case: &JsValue, keychain: &JsValue) -> JsValue {
    let halves = js_sys::Object::new();
    if let Ok(record) = Record::decode(&prop(case, "custodianRecord").as_string().unwrap()) {
        for e in record.entries() {
            let half = encode_custodian_half(&e.share);
            Reflect::set(&halves, &backup_id_hex(&e.backup_id).into(), &half.as_str().into()).unwrap();
        }
    }
    let credential_id = base64url(&unhex(&prop(case, "credentialId").as_string().unwrap()));
    passkey_world(keychain, &halves, &credential_id, &b64_field(case, "prfOutput"), &b64_field(case, "backupKey"))
}

/// What the module asked of the service and the authenticator for a passkey vector.
fn check_passkey_ceremonies(name: &str, case: &JsValue, world: &JsValue, expected_error: Option<&str>) {
    let requests: Vec<String> = Array::from(&prop(world, "requests")).iter().map(|v| v.as_string().unwrap()).collect();
    let gets = Array::from(&prop(world, "gets"));
    let released = prop(world, "released").as_f64().unwrap();
    if expected_error == Some("INVALID_CIPHERTEXT") {
        // Step 9 comes before any ceremony.
        assert_eq!(gets.length(), 0, "{name}: the authenticator was asked");
        assert!(!requests.iter().any(|r| r.contains("/passkeys/")), "{name}: {requests:?}");
        return;
    }
    let envelope = format::decode(&prop(case, "cipherText").as_string().unwrap()).unwrap();
    let params = PasskeyParams::decode(&envelope.header.method_params).unwrap();
    assert_eq!(gets.length(), 1, "{name}: one assertion");
    let options = gets.get(0);
    let prf_first = Reflect::get(&prop(&options, "extensions"), &"prf".into())
        .ok()
        .filter(|p| !p.is_undefined())
        .map(|p| prop(&prop(&p, "eval"), "first").as_string().unwrap());
    match params.prf_salt {
        Some(salt) => {
            // PRF mode: the recorded credential, asked for the recorded salt; the key stays here.
            assert_eq!(prf_first, Some(base64url(&salt)), "{name}: PRF salt");
            let allowed = Array::from(&prop(&options, "allowCredentials"));
            assert_eq!(allowed.length(), 1, "{name}");
            assert_eq!(prop(&allowed.get(0), "id").as_string(), Some(base64url(&params.credential_id)), "{name}");
            assert!(!requests.iter().any(|r| r.contains("finish-login")), "{name}: {requests:?}");
            assert_eq!(released, 0.0, "{name}");
        }
        None => {
            // Enclave mode: a login for this backup id, then the key is released.
            assert_eq!(prf_first, None, "{name}: PRF asked in enclave mode");
            let begin = requests.iter().position(|r| r == "POST /passkeys/begin-login").expect(name);
            let body = Array::from(&prop(world, "bodies")).get(begin as u32);
            assert_eq!(prop(&body, "backupId").as_string(), Some(backup_id_hex(&envelope.header.backup_id)));
            assert_eq!(released, 1.0, "{name}");
        }
    }
}

#[wasm_bindgen_test]
async fn every_vector_gives_its_expected_result() {
    assert!(VECTORS.len() >= 96);
    let mut passkey_vectors = 0;
    let mut icloud_vectors = 0;
    let mut guess_limited_vectors = 0;
    for (name, json) in VECTORS {
        let case = JSON::parse(json).unwrap();
        let keychain = memory_keychain(&JsValue::NULL);
        let method = prop(&case, "method").as_string().unwrap();
        let rec = recorder();
        let mut closures = Vec::new();
        let (config, world) = match method.as_str() {
            "password" if !prop(&case, "guessLimited").is_undefined() => {
                guess_limited_vectors += 1;
                let (world, kept) = guard_world_of(&case, &keychain);
                closures = kept;
                (prop(&world, "config"), Some(world))
            }
            "password" => {
                let custodian = memory_custodian(&prop(&case, "custodianRecord"));
                let password = prop(&case, "password").as_string().unwrap();
                (call_config(&keychain, &custodian, &password), None)
            }
            "icloud" => {
                icloud_vectors += 1;
                let custodian = memory_custodian(&prop(&case, "custodianRecord"));
                (icloud_config(&keychain, &custodian, &prop(&case, "keysRecord")), None)
            }
            "passkey" => {
                passkey_vectors += 1;
                let world = passkey_world_of(&case, &keychain);
                (prop(&world, "config"), Some(world))
            }
            other => panic!("{name}: unknown method {other}"),
        };
        let previous_fetch = world.as_ref().map(|w| swap_fetch(&prop(w, "fetch")));
        let result =
            recover_wallet(prop(&case, "cipherText"), method.as_str().into(), rec.clone(), config.clone()).await;
        if let Some(previous) = previous_fetch {
            swap_fetch(&previous);
        }
        let expected_shares = prop(&case, "expectedShares");
        let expected_error = prop(&case, "expectedError").as_string();
        if let Some(shares) = expected_shares.as_string() {
            assert!(result.is_ok(), "{name}: {result:?}");
            assert_eq!(prop(&keychain, "shares").as_string(), Some(shares), "{name}");
            assert_eq!(seen(&rec).last().map(String::as_str), Some("Done!"), "{name}");
        } else {
            let expected = expected_error.clone().unwrap();
            let err = result.expect_err(name);
            assert_eq!(code_of(&err), expected, "{name}");
            assert!(prop(&keychain, "shares").is_null(), "{name}: failure wrote the keychain");
            assert!(!seen(&rec).iter().any(|s| s.starts_with("Done")), "{name}: Done after failure");
        }
        if let Some(world) = world.as_ref().filter(|_| method == "passkey") {
            check_passkey_ceremonies(name, &case, world, expected_error.as_deref());
        }
        if !closures.is_empty() {
            // The half was released only for the right PIN's proof.
            let unlocked = prop(world.as_ref().unwrap(), "unlocked").as_f64();
            assert_eq!(unlocked, Some(if expected_error.is_none() { 1.0 } else { 0.0 }), "{name}");
        }
        drop(closures);
        if method == "icloud" && expected_error.as_deref() == Some("INVALID_CIPHERTEXT") {
            // Step 9 comes before the keys record is read (step 11).
            let reads = prop(&prop(&prop(&config, "icloud"), "keyValueStore"), "reads");
            assert_eq!(reads.as_f64(), Some(0.0), "{name}: the keys record was read");
        }
    }
    assert!(passkey_vectors >= 10, "only {passkey_vectors} passkey vectors");
    assert!(icloud_vectors >= 5, "only {icloud_vectors} iCloud vectors");
    assert!(guess_limited_vectors >= 3, "only {guess_limited_vectors} guess-limited vectors");
}

#[wasm_bindgen_test]
fn every_error_variant_maps_to_a_js_error_with_its_code() {
    for variant in Error::all_variants() {
        let code = variant.code();
        let message = variant.to_string();
        let plain = Failure::from(variant.clone()).into_js();
        assert_eq!(code_of(&plain), code);
        assert!(!plain.is_instance_of::<js_sys::TypeError>());
        assert_eq!(prop(&plain, "message").as_string(), Some(message));
        let typed = Failure::type_error(variant).into_js();
        assert!(typed.is_instance_of::<js_sys::TypeError>(), "{code}");
        assert_eq!(code_of(&typed), code);
    }
}

#[wasm_bindgen_test]
async fn round_trip_reports_progress_and_survives_errors_in_between() {
    let shares = r#"{"secp256k1":{"id":"w","share":"abc123"}}"#;
    let keychain = memory_keychain(&shares.into());
    let custodian = memory_custodian(&JsValue::NULL);
    let rec = recorder();
    let text = backup_wallet("password".into(), rec.clone(), call_config(&keychain, &custodian, "pin-1234"))
        .await
        .unwrap()
        .as_string()
        .unwrap();
    assert_eq!(seen(&rec), ["Reading share", "Generating share", "Encrypting share", "Storing share", "Done!"]);

    // A few failures on the same instance...
    let err = recover_wallet(
        text.clone().into(),
        "password".into(),
        JsValue::NULL,
        call_config(&keychain, &custodian, "pin-1235"),
    )
    .await
    .unwrap_err();
    assert_eq!(code_of(&err), "WRONG_PASSWORD");
    let err =
        recover_wallet("wbk1.!!".into(), "password".into(), JsValue::NULL, call_config(&keychain, &custodian, "x"))
            .await
            .unwrap_err();
    assert_eq!(code_of(&err), "INVALID_CIPHERTEXT");
    let err =
        backup_wallet(JsValue::from(7), JsValue::NULL, call_config(&keychain, &custodian, "x")).await.unwrap_err();
    assert!(err.is_instance_of::<js_sys::TypeError>());

    // ...and the instance still works.
    Reflect::set(&keychain, &"shares".into(), &JsValue::NULL).unwrap();
    let rec = recorder();
    recover_wallet(text.into(), "PASSWORD".into(), rec.clone(), call_config(&keychain, &custodian, "pin-1234"))
        .await
        .unwrap();
    assert_eq!(seen(&rec), ["Reading share", "Decrypting share", "Recovering backup share", "Storing share", "Done!"]);
    assert_eq!(prop(&keychain, "shares").as_string().as_deref(), Some(shares));
}

/// Wasm memory grows during this test (1 MiB shares on top of Argon2id's
/// 19 MiB); the bytes that come back must still be right.
#[wasm_bindgen_test]
async fn large_shares_round_trip_while_memory_grows() {
    let shares: String = (0..(1 << 20) - 64).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    let keychain = memory_keychain(&shares.as_str().into());
    let custodian = memory_custodian(&JsValue::NULL);
    let text = backup_wallet("password".into(), JsValue::NULL, call_config(&keychain, &custodian, "pw")).await.unwrap();
    Reflect::set(&keychain, &"shares".into(), &JsValue::NULL).unwrap();
    recover_wallet(text, "password".into(), JsValue::NULL, call_config(&keychain, &custodian, "pw")).await.unwrap();
    assert_eq!(prop(&keychain, "shares").as_string(), Some(shares));
}

/// Lone surrogates cannot cross into Rust unchanged: such shares or
/// passwords are refused rather than silently altered.
#[wasm_bindgen_test]
async fn lone_surrogates_are_refused_not_altered() {
    let lone: JsValue = js_sys::JsString::from_char_code1(0xD800).concat(&"share".into()).into();
    let keychain = memory_keychain(&lone);
    let custodian = memory_custodian(&JsValue::NULL);
    let err =
        backup_wallet("password".into(), JsValue::NULL, call_config(&keychain, &custodian, "pw")).await.unwrap_err();
    assert_eq!(code_of(&err), "KEYCHAIN_UNAVAILABLE");
    assert!(prop(&custodian, "record").is_null(), "nothing may be written");

    let keychain = memory_keychain(&"shares".into());
    let config = call_config(&keychain, &custodian, "x");
    Reflect::set(&prop(&config, "passwordStorage"), &"password".into(), &lone).unwrap();
    let err = backup_wallet("password".into(), JsValue::NULL, config).await.unwrap_err();
    assert_eq!(code_of(&err), "INVALID_ARGUMENT");

    // A real U+FFFD is fine, in shares and in passwords.
    let shares = "{\"share\":\"\u{FFFD}x\"}";
    let keychain = memory_keychain(&shares.into());
    let custodian = memory_custodian(&JsValue::NULL);
    let text =
        backup_wallet("password".into(), JsValue::NULL, call_config(&keychain, &custodian, "\u{FFFD}")).await.unwrap();
    Reflect::set(&keychain, &"shares".into(), &JsValue::NULL).unwrap();
    recover_wallet(text, "password".into(), JsValue::NULL, call_config(&keychain, &custodian, "\u{FFFD}"))
        .await
        .unwrap();
    assert_eq!(prop(&keychain, "shares").as_string().as_deref(), Some(shares));
}
