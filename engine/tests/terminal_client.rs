//! `payswitch_terminal::TerminalClient` against the live switch and the
//! simulator: every `/v1` call, the error mapping, and a retry after a lost
//! answer that pays once.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use protocol::Money;
use terminal::wire::{PayRequest, PrecreateRequest, RefundRequest};
use terminal::{ClientError, RefundStatus, RetryPolicy, Status, TerminalClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn client(base: &str) -> TerminalClient {
    TerminalClient::new(base, "T1", &SECRET)
        .expect("client")
        .with_policy(RetryPolicy {
            attempts: 4,
            backoff_initial: Duration::from_millis(20),
            backoff_max: Duration::from_millis(200),
            attempt_timeout: Duration::from_secs(10),
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_through_the_client() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (sw, base) = switch_in_process(dir.path(), &sim).await;
    let c = client(&base);

    let no = format!("TC{}", nonce());
    let pay = PayRequest::new(
        no.clone(),
        auth_code("0000"),
        Money::from_fen(8888),
        "client",
    );
    let t = c.pay(&pay, 5).await.expect("pay");
    assert_eq!(t.status, Status::Success, "{t:?}");
    assert_eq!(t.total_amount, Money::from_fen(8888));
    assert!(t.trade_no.is_some());

    let q = c.query(&no, false).await.expect("query");
    assert_eq!((q.status, &q.trade_no), (Status::Success, &t.trade_no));
    let q = c.query(&no, true).await.expect("query with refresh");
    assert_eq!(q.status, Status::Success);

    let r = c
        .refund(&no, &RefundRequest::new("R1", Money::from_fen(1000)))
        .await
        .expect("refund");
    assert_eq!(
        (r.status, r.refunded_amount),
        (RefundStatus::Success, Money::from_fen(1000))
    );
    let r2 = c.refund_status(&no, "R1").await.expect("refund status");
    assert_eq!(r2.status, RefundStatus::Success);

    // Above what is left: 400 naming the field, never sent.
    match c.refund_amount(&no, "R2", Money::from_fen(8000)).await {
        Err(ClientError::Api {
            status: 400, field, ..
        }) => {
            assert_eq!(field.as_deref(), Some("refund_amount"))
        }
        other => panic!("{other:?}"),
    }
    // A paid trade cannot be cancelled: 409 trade_state.
    match c.cancel(&no).await {
        Err(ClientError::Api {
            status: 409, code, ..
        }) => assert_eq!(code, "trade_state"),
        other => panic!("{other:?}"),
    }
    // An unknown trade: 404.
    match c.query("NOSUCHTRADE", false).await {
        Err(e @ ClientError::Api { status: 404, .. }) => assert!(!e.is_unknown_outcome()),
        other => panic!("{other:?}"),
    }

    // A QR trade, then closed before anyone pays.
    let qr = format!("TQ{}", nonce());
    let p = c
        .precreate(&PrecreateRequest::new(
            qr.clone(),
            Money::from_fen(100),
            "qr",
        ))
        .await
        .expect("precreate");
    assert_eq!(p.status, Status::WaitBuyerPay);
    assert!(p.qr_code.is_some());
    let closed = c.close(&qr).await.expect("close");
    assert_eq!(closed.status, Status::Closed);

    // A waiting payment cancelled by the cashier.
    let w = format!("TW{}", nonce());
    let t = c
        .pay(
            &PayRequest::new(w.clone(), auth_code("1004"), Money::from_fen(500), "w"),
            0,
        )
        .await
        .expect("pay 1004");
    assert_eq!(t.status, Status::Paying);
    assert_eq!(c.cancel(&w).await.expect("cancel").status, Status::Closed);

    // A wrong secret: 401 with the auth code.
    let bad = TerminalClient::new(&base, "T1", b"not the secret").unwrap();
    match bad.query(&no, false).await {
        Err(ClientError::Api {
            status: 401, code, ..
        }) => assert_eq!(code, "auth_bad_signature"),
        other => panic!("{other:?}"),
    }
    sw.shutdown().await.unwrap();
}

/// A proxy in front of the switch that forwards the first connection's
/// request, reads the switch's answer, and drops the connection without
/// passing the answer on (a lost answer); later connections pass through.
async fn lossy_proxy(upstream: std::net::SocketAddr) -> (String, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let conns = Arc::new(AtomicUsize::new(0));
    let seen = conns.clone();
    tokio::spawn(async move {
        while let Ok((mut down, _)) = l.accept().await {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let Ok(mut up) = TcpStream::connect(upstream).await else {
                    return;
                };
                if n == 0 {
                    let mut buf = vec![0u8; 64 * 1024];
                    let Ok(k) = down.read(&mut buf).await else {
                        return;
                    };
                    if up.write_all(&buf[..k]).await.is_err() {
                        return;
                    }
                    // The switch answers (and has journaled the trade);
                    // the terminal never hears it.
                    let _ = up.read(&mut buf).await;
                    drop(down);
                } else {
                    let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
                }
            });
        }
    });
    (format!("http://{addr}"), conns)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_is_retried_with_the_same_trade_and_pays_once() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (sw, _base) = switch_in_process(dir.path(), &sim).await;
    let (proxy, conns) = lossy_proxy(sw.local_addrs()[0]).await;
    let c = client(&proxy);

    let no = format!("TL{}", nonce());
    let pay = PayRequest::new(no.clone(), auth_code("0000"), Money::from_fen(1234), "lost");
    let t = c.pay(&pay, 5).await.expect("the retry gets the answer");
    assert_eq!(t.status, Status::Success, "{t:?}");
    assert!(
        conns.load(Ordering::SeqCst) >= 2,
        "the first answer was dropped"
    );
    // One trade at the gateway, paid once.
    let ledger = sim_trade(&sim, &no).await;
    assert_eq!(ledger.0, 200, "{ledger:?}");
    assert_eq!(ledger.1["status"], "TRADE_SUCCESS", "{ledger:?}");
    assert_eq!(ledger.1["total_amount"], "12.34", "{ledger:?}");
    assert_eq!(ledger.1["pay_count"], 1, "{ledger:?}");
    sw.shutdown().await.unwrap();
}
