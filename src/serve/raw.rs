//! The answers hyper gives by itself, in our words. A request whose head hyper cannot read
//! (not HTTP, a URI over 65534 bytes, headers over `max_header_size` or more than 100 of them)
//! never reaches the router: hyper answers `400`, `414` or `431` with an empty body and closes
//! the connection. [`JsonAnswers`] wraps each connection's socket and, when hyper writes one of
//! those bare answers, sends the same status with an error body in the API's shape
//! (`{"error": "bad_request" | "uri_too_long" | "headers_too_large", "message": ...}`) instead.
//!
//! hyper writes such an answer as one buffer holding only the head (the wrapper says it cannot
//! write vectored, so hyper flattens what it writes): a status line of 400, 414 or 431 and
//! `content-length: 0`, without a `content-type`. The router never answers like that (its
//! errors are JSON with a body), so nothing it sends is touched.

use crate::http::error::{ApiError, ErrorCode};
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The three answers' bodies, made once at start.
#[derive(Debug, Clone)]
pub(super) struct Bodies {
    bad_request: Vec<u8>,
    uri_too_long: Vec<u8>,
    headers_too_large: Vec<u8>,
}

impl Bodies {
    /// The bodies, the 431 naming the configured limit.
    pub(super) fn new(max_header_size: usize) -> Bodies {
        let body = |e: ApiError| serde_json::to_vec(&e.body()).unwrap_or_default();
        Bodies {
            bad_request: body(ApiError::new(ErrorCode::BadRequest,
                "the request is not HTTP/1.1 the service can read (its request line or a header is malformed)",
            )),
            uri_too_long: body(ApiError::new(ErrorCode::UriTooLong,
                "the request's path and query are longer than the service reads (65534 bytes)",
            )),
            headers_too_large: body(ApiError::new(ErrorCode::HeadersTooLarge,
                format!(
                    "the request's headers are larger than the service accepts: at most {max_header_size} bytes \
                     (`max_header_size`) and 100 headers"
                ),
            )),
        }
    }

    fn for_status(&self, status: &[u8]) -> Option<&[u8]> {
        match status {
            b"400" => Some(&self.bad_request),
            b"414" => Some(&self.uri_too_long),
            b"431" => Some(&self.headers_too_large),
            _ => None,
        }
    }
}

/// If `written` is one of hyper's bare answers, the same answer with a JSON body.
pub(super) fn rewrite(written: &[u8], bodies: &Bodies) -> Option<Vec<u8>> {
    const END: &[u8] = b"\r\n\r\n";
    // Only the head, all of it: hyper's own answers have no body.
    if written.len() > 4096 {
        return None;
    }
    let head = std::str::from_utf8(written.strip_suffix(END)?).ok()?;
    if head.contains("\r\n\r\n") {
        return None;
    }
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let rest = status_line.strip_prefix("HTTP/1.1 ").or_else(|| status_line.strip_prefix("HTTP/1.0 "))?;
    let body = bodies.for_status(rest.as_bytes().get(..3)?)?;
    let headers: Vec<&str> = lines.collect();
    let name = |line: &str| line.split(':').next().unwrap_or_default().trim().to_ascii_lowercase();
    let empty = headers
        .iter()
        .any(|l| name(l) == "content-length" && l.split(':').nth(1).map(str::trim) == Some("0"));
    if !empty || headers.iter().any(|l| name(l) == "content-type") {
        return None;
    }
    let mut out = Vec::with_capacity(head.len() + body.len() + 64);
    out.extend_from_slice(status_line.as_bytes());
    for line in headers.iter().filter(|l| name(l) != "content-length") {
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(line.as_bytes());
    }
    out.extend_from_slice(
        format!("\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n", body.len()).as_bytes(),
    );
    out.extend_from_slice(body);
    Some(out)
}

/// The bytes of `bytes` after the first `sent`; `None` once all are sent (or a socket claimed
/// to write more than it was given).
fn unsent(bytes: &[u8], sent: usize) -> Option<&[u8]> {
    bytes.get(sent..).filter(|rest| !rest.is_empty())
}

/// A connection's socket that turns hyper's bare answers into JSON ones (see the module).
#[derive(Debug)]
pub(super) struct JsonAnswers<T> {
    inner: T,
    bodies: Bodies,
    /// A rewritten answer being sent: its bytes, how many are sent, and how many bytes of
    /// hyper's buffer it stands for.
    sending: Option<(Vec<u8>, usize, usize)>,
}

impl<T> JsonAnswers<T> {
    pub(super) fn new(inner: T, bodies: Bodies) -> Self {
        JsonAnswers { inner, bodies, sending: None }
    }
}

impl<T: AsyncWrite + Unpin> JsonAnswers<T> {
    /// Sends what is left of a rewritten answer; ready with the size of hyper's buffer it
    /// replaced once all of it is sent.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<usize>>> {
        while let Some((bytes, sent, _)) = self.sending.as_mut() {
            let Some(rest) = unsent(bytes, *sent) else {
                let replaced = self.sending.take().map(|(_, _, n)| n);
                return Poll::Ready(Ok(replaced));
            };
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, rest))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *sent += n;
        }
        Poll::Ready(Ok(None))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for JsonAnswers<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for JsonAnswers<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.sending.is_none() {
            match rewrite(buf, &this.bodies) {
                Some(answer) => this.sending = Some((answer, 0, buf.len())),
                None => return Pin::new(&mut this.inner).poll_write(cx, buf),
            }
        }
        match ready!(this.drain(cx))? {
            Some(replaced) => Poll::Ready(Ok(replaced)),
            None => Pin::new(&mut this.inner).poll_write(cx, buf),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // A rewritten answer hyper has not been told is written yet is sent before flushing.
        let this = &mut *self;
        if let Some((bytes, sent, _)) = this.sending.as_mut() {
            while let Some(rest) = unsent(bytes, *sent) {
                let n = ready!(Pin::new(&mut this.inner).poll_write(cx, rest))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                *sent += n;
            }
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().poll_flush(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::{rewrite, Bodies};

    #[test]
    fn only_hypers_bare_answers_are_rewritten() {
        let bodies = Bodies::new(131_072);
        let bare = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\ndate: Sun, 06 Dec 2026 00:50:23 GMT\r\n\r\n";
        let out = String::from_utf8(rewrite(bare, &bodies).expect("rewritten")).expect("text");
        let (head, body) = out.split_once("\r\n\r\n").expect("head and body");
        assert!(head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"), "{head}");
        assert!(head.contains("\r\nconnection: close\r\n") && head.contains("\r\ndate: "), "{head}");
        assert!(head.contains("content-type: application/json"), "{head}");
        assert!(head.contains(&format!("content-length: {}", body.len())), "{head}");
        assert!(!head.contains("content-length: 0"), "{head}");
        let json: serde_json::Value = serde_json::from_str(body).expect("JSON");
        assert_eq!(json["error"], "headers_too_large");
        assert!(json["message"].as_str().unwrap_or_default().contains("131072"), "{json}");
        for (status, code) in [("400 Bad Request", "bad_request"), ("414 URI Too Long", "uri_too_long")] {
            let bare = format!("HTTP/1.1 {status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
            let out = String::from_utf8(rewrite(bare.as_bytes(), &bodies).expect("rewritten")).expect("text");
            let json: serde_json::Value =
                serde_json::from_str(out.split_once("\r\n\r\n").expect("body").1).expect("JSON");
            assert_eq!(json["error"], code);
        }
        // What the router sends is left alone: a JSON 400 with its body, another status, a body.
        for kept in [
            &b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"[..],
            b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
            b"{\"error\": \"HTTP/1.1 431 \"}",
            b"HTTP/1.1 431 x\r\ncontent-length: 10\r\n\r\n",
        ] {
            assert!(rewrite(kept, &bodies).is_none(), "{}", String::from_utf8_lossy(kept));
        }
    }
}
