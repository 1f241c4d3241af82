//! Crash consistency: rounds of mixed concurrent commit, adjust and void against the real
//! binary, each killed with SIGKILL at a random moment and restarted on the same data
//! directory. After every restart the store opens, every acknowledged operation is there
//! with exactly its acknowledged content and version, and an operation that was in flight
//! is either absent or complete.

use crate::common;
use common::process::{self, ADMIN_TOKEN, PASSWORD, USER};
use common::quote;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ROUNDS: usize = 20;
const WORKERS: usize = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Commit,
    Adjust,
    Void,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Commit => "commit",
            Kind::Adjust => "adjust",
            Kind::Void => "void",
        }
    }
}

/// What the client knows about one quote.
#[derive(Debug, Default, Clone)]
struct Known {
    /// Acknowledged operations, in order: kind, request, response.
    acked: Vec<(Kind, Option<Value>, Option<Value>)>,
    /// The operation in flight when the server died, if any.
    pending: Option<(Kind, Option<Value>)>,
}

type Model = Arc<Mutex<BTreeMap<String, Known>>>;

/// A small deterministic generator (the seed is printed, so a failure can be replayed).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

async fn send(client: &reqwest::Client, url: String, body: Option<&Value>) -> Option<(u16, Value)> {
    let mut req = client
        .post(url)
        .basic_auth(USER, Some(PASSWORD))
        .header("X-Bc-Store-Hash", "s");
    if let Some(b) = body {
        req = req.json(b);
    }
    let res = req.send().await.ok()?;
    let status = res.status().as_u16();
    let bytes = res.bytes().await.ok()?;
    Some((status, serde_json::from_slice(&bytes).ok()?))
}

/// One worker: a sequence of operations on its own quotes, recorded in the model.
async fn worker(
    client: reqwest::Client,
    address: String,
    model: Model,
    round: usize,
    id: usize,
    seed: u64,
    stop: Instant,
) {
    let mut rng = Lcg(seed);
    let mut n = 0;
    let mut current: Option<(String, bool)> = None; // (quote id, committed?)
    while Instant::now() < stop {
        let (kind, quote_id) = match &current {
            None => {
                n += 1;
                (Kind::Commit, format!("r{round}-w{id}-q{n}"))
            }
            Some((q, true)) => (
                if rng.below(10) < 7 {
                    Kind::Adjust
                } else {
                    Kind::Void
                },
                q.clone(),
            ),
            Some((q, false)) => {
                if rng.below(2) == 0 {
                    (Kind::Commit, q.clone())
                } else {
                    current = None;
                    continue;
                }
            }
        };
        let body = match kind {
            Kind::Void => None,
            _ => {
                let mut b = quote(
                    &quote_id,
                    &[&format!("{}.{:02}", 10 + rng.below(500), rng.below(100))],
                );
                if kind == Kind::Adjust {
                    b["adjust_description"] = json!(format!("adjust {}", rng.next()));
                }
                Some(b)
            }
        };
        let url = match kind {
            Kind::Commit => format!("{address}/commit"),
            Kind::Adjust => format!("{address}/adjust?id={quote_id}"),
            Kind::Void => format!("{address}/void?id={quote_id}"),
        };
        model
            .lock()
            .unwrap()
            .entry(quote_id.clone())
            .or_default()
            .pending = Some((kind, body.clone()));
        match send(&client, url, body.as_ref()).await {
            Some((200, response)) => {
                let mut m = model.lock().unwrap();
                let k = m.get_mut(&quote_id).unwrap();
                k.pending = None;
                k.acked
                    .push((kind, body, (kind != Kind::Void).then_some(response)));
                current = Some((quote_id, kind != Kind::Void));
            }
            Some((status, v)) => panic!("{quote_id} {kind:?}: {status} {v}"),
            None => return, // killed: the pending operation stays pending
        }
    }
    // Stopped without being killed in flight: nothing pending.
}

/// Checks every quote of the model against the restarted server.
async fn verify(
    client: &reqwest::Client,
    admin: &str,
    model: &Model,
    only_prefix: Option<&str>,
) -> usize {
    let quotes: Vec<(String, Known)> = model
        .lock()
        .unwrap()
        .iter()
        .filter(|(k, _)| only_prefix.is_none_or(|p| k.starts_with(p)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (id, known) in &quotes {
        let res = client
            .get(format!("{admin}/admin/accounts/demo/quotes/{id}"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        if res.status() == 404 {
            assert!(
                known.acked.is_empty(),
                "{id}: acknowledged operations lost entirely"
            );
            continue;
        }
        assert_eq!(res.status(), 200);
        let v: Value = res.json().await.unwrap();
        let versions = v["data"]["versions"].as_array().unwrap();
        let extra = versions
            .len()
            .checked_sub(known.acked.len())
            .unwrap_or_else(|| {
                panic!(
                    "{id}: {} acknowledged operations but only {} versions",
                    known.acked.len(),
                    versions.len()
                )
            });
        for (i, (kind, _, response)) in known.acked.iter().enumerate() {
            let stored = &versions[i];
            assert_eq!(stored["version"], json!(i + 1), "{id}: version numbers");
            assert_eq!(stored["kind"], kind.as_str(), "{id} v{}: kind", i + 1);
            if let Some(r) = response {
                assert_eq!(
                    &stored["response"],
                    r,
                    "{id} v{}: stored response differs from the acknowledged one",
                    i + 1
                );
            }
        }
        match (extra, &known.pending) {
            (0, _) => {}
            (1, Some((kind, request))) => {
                let stored = &versions[known.acked.len()];
                assert_eq!(
                    stored["kind"],
                    kind.as_str(),
                    "{id}: unacknowledged version of another kind"
                );
                if let Some(req) = request {
                    let mut stored_req = stored["request"].clone();
                    let mut sent = req.clone();
                    // The stored request is the parsed one: compare the fields we sent.
                    for v in [&mut stored_req, &mut sent] {
                        v["documents"][0]["items"][0]["tax_class"] = Value::Null;
                    }
                    assert_eq!(
                        stored_req["documents"][0]["items"][0]["price"],
                        sent["documents"][0]["items"][0]["price"],
                        "{id}: half-written?"
                    );
                    assert_eq!(
                        stored["adjust_description"],
                        sent.get("adjust_description")
                            .cloned()
                            .unwrap_or(Value::Null)
                    );
                    assert!(
                        stored["response"].is_object(),
                        "{id}: an unacknowledged version without its response"
                    );
                }
            }
            (n, p) => panic!("{id}: {n} versions beyond the acknowledged ones (pending: {p:?})"),
        }
    }
    quotes.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_operations_survive_repeated_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let config = process::write_config(dir.path(), &dir.path().join("data"));
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("crash test seed {seed}");
    let mut rng = Lcg(seed);
    let model: Model = Arc::default();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut acked_total = 0;
    for round in 0..ROUNDS {
        let mut server = process::start(&config);
        if round > 0 {
            // The store opened; everything of the previous round is as acknowledged.
            verify(
                &client,
                &server.admin,
                &model,
                Some(&format!("r{}-", round - 1)),
            )
            .await;
        }
        let run_for = Duration::from_millis(150 + rng.below(600));
        let stop = Instant::now() + run_for + Duration::from_secs(5);
        let tasks: Vec<_> = (0..WORKERS)
            .map(|w| {
                tokio::spawn(worker(
                    client.clone(),
                    server.address.clone(),
                    model.clone(),
                    round,
                    w,
                    rng.next(),
                    stop,
                ))
            })
            .collect();
        tokio::time::sleep(run_for).await;
        server.child.kill().unwrap();
        server.child.wait().unwrap();
        for t in tasks {
            t.await.unwrap();
        }
    }
    let server = process::start(&config);
    let checked = verify(&client, &server.admin, &model, None).await;
    for k in model.lock().unwrap().values() {
        acked_total += k.acked.len();
    }
    eprintln!(
        "{ROUNDS} rounds: {checked} quotes, {acked_total} acknowledged operations, all intact"
    );
    assert!(
        acked_total > ROUNDS * 10,
        "too little load to mean anything: {acked_total}"
    );
}
