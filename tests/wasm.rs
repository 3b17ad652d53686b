//! wasm-bindgen tests of the exports, run in Node.js and in headless
//! Chromium by the same build (see scripts/test.mjs): every test vector,
//! the error-code table, progress, and a memory-growing round trip.

#![cfg(target_arch = "wasm32")]

use js_sys::{Array, Reflect, JSON};
use wallet_backup::errors::Failure;
use wallet_backup::{backup_wallet, recover_wallet};
use wallet_backup_core::Error;
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
"#)]
extern "C" {
    #[wasm_bindgen(js_name = memoryKeychain)]
    fn memory_keychain(shares: &JsValue) -> JsValue;
    #[wasm_bindgen(js_name = memoryCustodian)]
    fn memory_custodian(record: &JsValue) -> JsValue;
    fn recorder() -> JsValue;
    #[wasm_bindgen(js_name = callConfig)]
    fn call_config(keychain: &JsValue, custodian: &JsValue, password: &str) -> JsValue;
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

#[wasm_bindgen_test]
async fn every_vector_gives_its_expected_result() {
    assert!(VECTORS.len() >= 40);
    for (name, json) in VECTORS {
        let case = JSON::parse(json).unwrap();
        let keychain = memory_keychain(&JsValue::NULL);
        let custodian = memory_custodian(&prop(&case, "custodianRecord"));
        let password = prop(&case, "password").as_string().unwrap();
        let rec = recorder();
        let result = recover_wallet(
            prop(&case, "cipherText"),
            "password".into(),
            rec.clone(),
            call_config(&keychain, &custodian, &password),
        )
        .await;
        let expected_shares = prop(&case, "expectedShares");
        if let Some(shares) = expected_shares.as_string() {
            assert!(result.is_ok(), "{name}: {result:?}");
            assert_eq!(prop(&keychain, "shares").as_string(), Some(shares), "{name}");
            assert_eq!(seen(&rec).last().map(String::as_str), Some("Done!"), "{name}");
        } else {
            let expected = prop(&case, "expectedError").as_string().unwrap();
            let err = result.expect_err(name);
            assert_eq!(code_of(&err), expected, "{name}");
            assert!(prop(&keychain, "shares").is_null(), "{name}: failure wrote the keychain");
            assert!(!seen(&rec).iter().any(|s| s.starts_with("Done")), "{name}: Done after failure");
        }
    }
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
