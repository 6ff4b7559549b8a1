//! Limits on what one client can hold: a request body must arrive whole within
//! `body_read_timeout` of the request's start ([`Deadline`]; a body trickled a byte at a time is
//! cut then, not allowed to run for as long as each byte comes within the timeout), and one
//! client address holds at most a share of the connections ([`PerClient`]), so that a few
//! clients cannot take every connection slot from everyone else.

use http_body::{Body, Frame, SizeHint};
use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Sleep;

/// A request body that fails once its deadline has passed.
pub(super) struct Deadline {
    body: axum::body::Body,
    sleep: Pin<Box<Sleep>>,
}

impl Deadline {
    /// `body`, to be read whole within `total` from now.
    pub(super) fn new(body: axum::body::Body, total: Duration) -> Self {
        Deadline { body, sleep: Box::pin(tokio::time::sleep(total)) }
    }
}

/// The error a body past its deadline gives (the extractors answer it as a bad body).
#[derive(Debug)]
struct TooSlow;

impl std::fmt::Display for TooSlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body did not arrive within `body_read_timeout_ms`")
    }
}

impl std::error::Error for TooSlow {}

impl Body for Deadline {
    type Data = bytes::Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        if this.body.is_end_stream() {
            return Poll::Ready(None);
        }
        if this.sleep.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Box::new(TooSlow))));
        }
        Pin::new(&mut this.body).poll_frame(cx).map(|f| f.map(|r| r.map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

use std::future::Future as _;

/// Connections per client address, each at most `max`; addresses of trusted proxies (which
/// carry many clients) are not counted.
#[derive(Clone)]
pub(super) struct PerClient {
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
    max: usize,
    exempt: Arc<Vec<ipnet::IpNet>>,
}

/// A connection counted against its address until dropped.
pub(super) struct Held {
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: Option<IpAddr>,
}

impl Drop for Held {
    fn drop(&mut self) {
        let Some(ip) = self.ip else { return };
        if let Ok(mut open) = self.open.lock() {
            if let Some(n) = open.get_mut(&ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    open.remove(&ip);
                }
            }
        }
    }
}

impl PerClient {
    /// At most `max` connections per address (at least one), except from `exempt` networks.
    pub(super) fn new(max: usize, exempt: Vec<ipnet::IpNet>) -> Self {
        PerClient { open: Arc::default(), max: max.max(1), exempt: Arc::new(exempt) }
    }

    /// Counts a connection from `ip`, or `None` when the address has its share already.
    pub(super) fn admit(&self, ip: IpAddr) -> Option<Held> {
        let ip = ip.to_canonical();
        if self.exempt.iter().any(|n| n.contains(&ip)) {
            return Some(Held { open: self.open.clone(), ip: None });
        }
        let mut open = self.open.lock().ok()?;
        let n = open.entry(ip).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(Held { open: self.open.clone(), ip: Some(ip) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_gets_its_share_and_gives_it_back() {
        let limit = PerClient::new(2, vec!["10.0.0.0/8".parse().unwrap()]);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let first = limit.admit(a).unwrap();
        let _second = limit.admit(a).unwrap();
        assert!(limit.admit(a).is_none(), "a third connection from the same address waits its turn");
        assert!(limit.admit("192.0.2.2".parse().unwrap()).is_some(), "another address is not held up");
        drop(first);
        assert!(limit.admit(a).is_some());
        let proxy: IpAddr = "10.1.2.3".parse().unwrap();
        assert!((0..10).all(|_| limit.admit(proxy).is_some()), "a trusted proxy carries many clients");
    }

    #[tokio::test]
    async fn a_body_that_trickles_past_its_deadline_fails() {
        use futures_util::StreamExt;
        let chunks = futures_util::stream::unfold(0, |i| async move {
            tokio::time::sleep(Duration::from_millis(40)).await;
            (i < 100).then(|| (Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"x")), i + 1))
        });
        let body = Deadline::new(axum::body::Body::from_stream(chunks), Duration::from_millis(200));
        let mut stream = axum::body::Body::new(body).into_data_stream();
        let mut got = 0;
        let failed = loop {
            match stream.next().await {
                Some(Ok(b)) => got += b.len(),
                Some(Err(e)) => break e.to_string(),
                None => panic!("the body ended instead of failing"),
            }
        };
        assert!(got < 10 && failed.contains("body_read_timeout_ms"), "{got} bytes, then {failed}");
    }
}
