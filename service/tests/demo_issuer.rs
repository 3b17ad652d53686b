//! `serve --demo-firebase-issuer`: the demo page learns the development
//! Firebase issuer from `/demo-config.json`, and its Content-Security-Policy
//! lets it connect there (and nowhere else new). Loopback URLs only, and
//! only beside `--demo-key-file`. The same for `--demo-stand-in NAME=URL`
//! (Drive, CloudKit and app-server stand-ins), named under `standIns`.

mod common;

use serde_json::{json, Value};
use wallet_backup_service::demo::DemoSettings;
use wallet_backup_service::web::{content_security_policy, CONTENT_SECURITY_POLICY};
use wallet_backup_service::{start, ServeConfig, StartError, Statics};

#[tokio::test]
async fn demo_firebase_issuer_is_in_the_demo_config_and_the_page_csp() {
    let dir = tempfile::tempdir().unwrap();
    let www = dir.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), "<h1>demo</h1>").unwrap();
    let backend = common::backend_for(&dir.path().join("data")).await;
    let (store, kms) = wallet_backup_service::open_backend(&backend).await.unwrap();
    let (_, key) = store.create_client(&kms, &wallet_backup_service::store::NewClient::new("demo")).await.unwrap();
    store.close().await;
    let key_file = dir.path().join("demo-client.key");
    std::fs::write(&key_file, key.expose()).unwrap();
    let with = |issuer: Option<&str>, stand_ins: &[&str]| ServeConfig {
        statics: Some(Statics { www: www.clone(), pkg: None }),
        demo: Some(DemoSettings {
            key_file: key_file.clone(),
            firebase_issuer: issuer.map(str::to_owned),
            stand_ins: stand_ins.iter().map(|s| (*s).to_owned()).collect(),
        }),
        ..ServeConfig::new("127.0.0.1:0".parse().unwrap(), backend.clone())
    };

    for (issuer, expected) in
        [("https://issuer.example:4000", "loopback"), ("http://127.0.0.1:4000/jwks", "origin only")]
    {
        let Err(StartError::Config(message)) = start(with(Some(issuer), &[])).await else {
            panic!("--demo-firebase-issuer {issuer} must be refused");
        };
        assert!(message.contains("--demo-firebase-issuer") && message.contains(expected), "{message}");
    }

    let get = |base: String, path: &'static str| async move { reqwest::get(format!("{base}{path}")).await.unwrap() };

    let running = start(with(Some("http://127.0.0.1:4000/"), &[])).await.unwrap();
    let base = format!("http://{}", running.addr());
    let config: Value = get(base.clone(), "/demo-config.json").await.json().await.unwrap();
    assert_eq!(config, json!({ "apiKey": key.expose(), "firebaseIssuer": "http://127.0.0.1:4000" }));
    let page = get(base.clone(), "/").await;
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert_eq!(csp, content_security_policy(&["http://127.0.0.1:4000"]));
    assert!(csp.contains("connect-src 'self' http://127.0.0.1:4000;"), "{csp}");
    running.shutdown().await.unwrap();

    // Stand-ins beside the issuer: named in `standIns`, each origin once in connect-src.
    let config =
        with(Some("http://127.0.0.1:4000"), &["gdrive=http://127.0.0.1:4001", "icloud=http://localhost:4002/"]);
    let running = start(config).await.unwrap();
    let base = format!("http://{}", running.addr());
    let config: Value = get(base.clone(), "/demo-config.json").await.json().await.unwrap();
    assert_eq!(
        config,
        json!({ "apiKey": key.expose(), "firebaseIssuer": "http://127.0.0.1:4000",
                "standIns": { "gdrive": "http://127.0.0.1:4001", "icloud": "http://localhost:4002" } })
    );
    let page = get(base.clone(), "/").await;
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("connect-src 'self' http://127.0.0.1:4000 http://127.0.0.1:4001 http://localhost:4002;"),
        "{csp}"
    );
    running.shutdown().await.unwrap();
    for (stand_in, expected) in
        [("gdrive=https://www.googleapis.com", "loopback"), ("Drive=http://127.0.0.1:4001", "name")]
    {
        let Err(StartError::Config(message)) = start(with(None, &[stand_in])).await else {
            panic!("--demo-stand-in {stand_in} must be refused");
        };
        assert!(message.contains("--demo-stand-in") && message.contains(expected), "{message}");
    }

    // Without the flag: no field, and the page's policy is the static server's.
    let running = start(with(None, &[])).await.unwrap();
    let base = format!("http://{}", running.addr());
    let config: Value = get(base.clone(), "/demo-config.json").await.json().await.unwrap();
    assert_eq!(config, json!({ "apiKey": key.expose() }));
    assert_eq!(get(base, "/").await.headers()["content-security-policy"], CONTENT_SECURITY_POLICY);
    running.shutdown().await.unwrap();
}
