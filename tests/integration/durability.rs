//! Durability: every acknowledged commit survives SIGKILL mid-load, byte for byte.

use crate::common;
use common::process::{self, Server, PASSWORD, USER};
use common::quote;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Quote id -> (the request, the acknowledged response bytes).
type Acked = HashMap<String, (serde_json::Value, Vec<u8>)>;

async fn commit(
    client: &reqwest::Client,
    address: &str,
    body: &serde_json::Value,
) -> Option<(u16, Vec<u8>)> {
    let res = client
        .post(format!("{address}/commit"))
        .basic_auth(USER, Some(PASSWORD))
        .header("X-Bc-Store-Hash", "store")
        .json(body)
        .send()
        .await
        .ok()?;
    let status = res.status().as_u16();
    Some((status, res.bytes().await.ok()?.to_vec()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_commits_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = process::write_config(dir.path(), &data);
    let acked: Arc<Mutex<Acked>> = Arc::default();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();

    for round in 0..3 {
        let mut server = process::start(&config);
        let address = server.address.clone();
        let stop = Instant::now() + Duration::from_millis(700 + 300 * round);
        let mut tasks = Vec::new();
        for worker in 0..32 {
            let (client, address, acked) = (client.clone(), address.clone(), acked.clone());
            tasks.push(tokio::spawn(async move {
                let mut n = 0;
                while Instant::now() < stop + Duration::from_secs(2) {
                    let id = format!("r{round}-w{worker}-{n}");
                    n += 1;
                    let body = quote(&id, &[&format!("{}.{:02}", 10 + n, worker)]);
                    match commit(&client, &address, &body).await {
                        Some((200, bytes)) => {
                            acked.lock().unwrap().insert(id, (body, bytes));
                        }
                        Some((status, bytes)) => {
                            panic!("{id}: {status} {}", String::from_utf8_lossy(&bytes))
                        }
                        None => break, // the server is gone
                    }
                }
            }));
        }
        tokio::time::sleep_until(stop.into()).await;
        server.child.kill().unwrap(); // SIGKILL, mid-load
        server.child.wait().unwrap();
        for t in tasks {
            t.await.unwrap();
        }
        drop(server);
    }

    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 100,
        "the load acknowledged only {} commits",
        acked.len()
    );
    let server: Server = process::start(&config);
    let mut checked = 0;
    for (id, (body, bytes)) in &acked {
        // An identical re-commit must return exactly the stored response.
        let (status, again) = commit(&client, &server.address, body)
            .await
            .expect("server answers");
        assert_eq!(status, 200, "{id}: {}", String::from_utf8_lossy(&again));
        assert_eq!(
            &again, bytes,
            "{id}: stored response differs from the acknowledged one"
        );
        checked += 1;
    }
    assert_eq!(checked, acked.len());
    eprintln!("{checked} acknowledged commits over 3 SIGKILLed runs all intact");
}
