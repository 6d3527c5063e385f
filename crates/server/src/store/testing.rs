//! What every response store must do, checked against each ([`behaves_like_a_store`]), and a
//! real `redis-server` on a loopback port of its own for the Redis store's checks.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use pollux_translate::openai::responses::InputItem;
use pollux_translate::IdSource;
use serde_json::json;

use super::{Gone, InputJson, Lookup, ResponseStore, Settled, Stored};
use crate::ids::ResponseIds;

pub fn record(id: &str, owner: Option<&str>, text: &str) -> Stored {
    Stored {
        id: id.to_owned(),
        owner: owner.map(str::to_owned),
        previous: Some("resp_before".to_owned()),
        response: Bytes::from(format!(
            r#"{{"id":"{id}","output":[{{"type":"message","id":"msg_{id}","text":"{text}"}}]}}"#
        )),
        input: InputJson::encoded(Bytes::from(format!(
            r#"[{{"type":"message","id":"in_{id}"}}]"#
        ))),
        item_ids: vec![format!("in_{id}"), format!("msg_{id}")],
        signatures: vec![("call_1".to_owned(), "sig_1".to_owned())],
    }
}

/// A background response's record settled by a run and by a cancel: the first final one
/// stands, whatever comes after, and a settle that is not final never replaces it.
pub async fn settles_once(store: &dyn ResponseStore) {
    let open = record("bg", None, "in_progress");
    assert_eq!(
        store.settle(open.clone(), false).await.unwrap(),
        Settled::Written
    );
    assert_eq!(
        store.settle(open.clone(), false).await.unwrap(),
        Settled::Written,
        "a record not final yet may be written again"
    );
    let cancelled = record("bg", None, "cancelled");
    assert_eq!(
        store.settle(cancelled.clone(), true).await.unwrap(),
        Settled::Written
    );
    for late in [record("bg", None, "completed"), open] {
        for last in [true, false] {
            assert_eq!(
                store.settle(late.clone(), last).await.unwrap(),
                Settled::Kept(Some(std::sync::Arc::new(cancelled.clone())))
            );
        }
    }
    match store.get("bg", None).await.unwrap() {
        Lookup::Found(found) => assert_eq!(*found, cancelled),
        other => panic!("expected the cancelled record, got {other:?}"),
    }
    // Both at once, many times: exactly one wins each time, and both see the same winner.
    for i in 0..50 {
        let id = format!("race{i}");
        let (a, b) = futures_util::future::join(
            store.settle(record(&id, None, "cancelled"), true),
            store.settle(record(&id, None, "completed"), true),
        )
        .await;
        let (a, b) = (a.unwrap(), b.unwrap());
        let winner = match (&a, &b) {
            (Settled::Written, Settled::Kept(Some(w))) => {
                assert!(std::str::from_utf8(&w.response)
                    .unwrap()
                    .contains("cancelled"));
                "cancelled"
            }
            (Settled::Kept(Some(w)), Settled::Written) => {
                assert!(std::str::from_utf8(&w.response)
                    .unwrap()
                    .contains("completed"));
                "completed"
            }
            other => panic!("exactly one settle must win: {other:?}"),
        };
        match store.get(&id, None).await.unwrap() {
            Lookup::Found(found) => {
                assert!(std::str::from_utf8(&found.response)
                    .unwrap()
                    .contains(winner))
            }
            other => panic!("expected the record, got {other:?}"),
        }
    }
}

/// The semantics both stores share: owners, items, replacing, deleting.
pub async fn behaves_like_a_store(store: &dyn ResponseStore) {
    let a = record("a", Some("k1"), "first");
    store.put(a.clone()).await.unwrap();
    match store.get("a", Some("k1")).await.unwrap() {
        Lookup::Found(found) => assert_eq!(*found, a, "a record reads back as written"),
        other => panic!("expected the record, got {other:?}"),
    }
    assert_eq!(store.get("a", Some("k2")).await.unwrap(), Lookup::Unknown);
    assert_eq!(store.get("a", None).await.unwrap(), Lookup::Unknown);
    assert_eq!(store.get("zzz", Some("k1")).await.unwrap(), Lookup::Unknown);

    let item = store.item("msg_a", Some("k1")).await.unwrap().unwrap();
    assert_eq!(item["type"], "message");
    assert!(store.item("in_a", Some("k1")).await.unwrap().is_some());
    assert!(store.item("msg_a", Some("k2")).await.unwrap().is_none());
    assert!(store.item("msg_zzz", Some("k1")).await.unwrap().is_none());

    // Written again (a background response finishing): the new record wins.
    let again = record("a", Some("k1"), "second");
    store.put(again.clone()).await.unwrap();
    match store.get("a", Some("k1")).await.unwrap() {
        Lookup::Found(found) => assert_eq!(*found, again),
        other => panic!("expected the rewritten record, got {other:?}"),
    }

    assert!(!store.delete("a", Some("k2")).await.unwrap(), "not k2's");
    assert!(store.delete("a", Some("k1")).await.unwrap());
    assert!(
        !store.delete("a", Some("k1")).await.unwrap(),
        "already gone"
    );
    assert_eq!(
        store.get("a", Some("k1")).await.unwrap(),
        Lookup::Gone(Gone::Deleted)
    );
    // Another owner's deleted record is as unknown as its live one.
    assert_eq!(store.get("a", Some("k2")).await.unwrap(), Lookup::Unknown);
    assert!(store.item("msg_a", Some("k1")).await.unwrap().is_none());

    // Single-tenant records (no owner) are everyone's.
    store.put(record("b", None, "x")).await.unwrap();
    assert!(matches!(
        store.get("b", None).await.unwrap(),
        Lookup::Found(_)
    ));

    finds_items_by_the_ids_it_made(store).await;
}

/// A record as a Responses request writes it: its input items as parsed (encoded when first
/// read), the ids it made for them and for its one output message, and index entries only for
/// the ids the client chose.
fn made(owner: &str, input: serde_json::Value) -> (Stored, Vec<String>) {
    let mut ids = ResponseIds::new();
    let id = ids.response_id();
    let items: Vec<InputItem> = serde_json::from_value(input).unwrap();
    let reserved = ids.reserve(items.len());
    // The ids the input will have, read from a twin: the record's own stays unencoded until
    // the store reads it.
    let twin = InputJson::deferred(items.clone(), reserved.clone(), 64);
    let input = InputJson::deferred(items, reserved, 64);
    let mut all: Vec<String> =
        serde_json::from_slice::<Vec<serde_json::Value>>(twin.bytes().unwrap())
            .unwrap()
            .iter()
            .map(|item| item["id"].as_str().unwrap().to_owned())
            .collect();
    all.push(ids.item_id("msg"));
    let output = json!({"id": id, "output": [{"type": "message", "id": all.last()}]});
    let record = Stored {
        item_ids: Stored::chosen_ids(&id, all.iter().map(String::as_str)),
        id,
        owner: Some(owner.to_owned()),
        previous: None,
        response: Bytes::from(output.to_string()),
        input,
        signatures: Vec::new(),
    };
    (record, all)
}

/// Item ids made from the response's own lead to it without an index entry; an id of that
/// shape the record does not hold finds nothing; an id a later record replays is found there,
/// after the first record has gone too.
async fn finds_items_by_the_ids_it_made(store: &dyn ResponseStore) {
    let (first, ids) = made("k1", json!([{"role": "user", "content": "hi"}]));
    assert!(first.item_ids.is_empty(), "{:?}", first.item_ids);
    store.put(first.clone()).await.unwrap();
    match store.get(&first.id, Some("k1")).await.unwrap() {
        Lookup::Found(found) => assert_eq!(*found, first, "the input reads back as encoded"),
        other => panic!("expected the record, got {other:?}"),
    }
    let input = store.item(&ids[0], Some("k1")).await.unwrap().unwrap();
    assert_eq!(input["content"][0]["text"], "hi");
    let output = store.item(&ids[1], Some("k1")).await.unwrap().unwrap();
    assert_eq!(output["type"], "message");
    assert!(store.item(&ids[1], Some("k2")).await.unwrap().is_none());
    let forged = format!("{}ffff", &ids[1][..ids[1].len() - 4]);
    assert!(store.item(&forged, Some("k1")).await.unwrap().is_none());

    let (later, _) = made(
        "k1",
        json!([{"type": "message", "id": ids[0], "role": "user", "content": "again"}]),
    );
    assert_eq!(
        later.item_ids,
        vec![ids[0].clone()],
        "a replayed id is indexed"
    );
    store.put(later).await.unwrap();
    let replayed = store.item(&ids[0], Some("k1")).await.unwrap().unwrap();
    assert_eq!(
        replayed["content"][0]["text"], "again",
        "the newest record first"
    );
    assert!(store.delete(&first.id, Some("k1")).await.unwrap());
    assert!(store.item(&ids[1], Some("k1")).await.unwrap().is_none());
    let replayed = store.item(&ids[0], Some("k1")).await.unwrap().unwrap();
    assert_eq!(replayed["content"][0]["text"], "again");
}

/// A `redis-server` of its own on a free loopback port, without persistence; killed (by PID)
/// when dropped.
pub struct RedisServer {
    child: Child,
    pub port: u16,
}

impl RedisServer {
    pub fn start() -> std::io::Result<RedisServer> {
        // redis-server takes no `--port 0`: take a free port from the OS, then hand it over.
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        RedisServer::start_on(port)
    }

    /// Starts on `port` and returns once it says it accepts connections.
    pub fn start_on(port: u16) -> std::io::Result<RedisServer> {
        let mut child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let out = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("no stdout"))?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if line.contains("Ready to accept connections") {
                    let _ = tx.send(());
                }
            }
        });
        let mut server = RedisServer { child, port };
        if rx.recv_timeout(Duration::from_secs(10)).is_err() {
            server.stop();
            return Err(std::io::Error::other("redis-server did not start"));
        }
        Ok(server)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
