//! The front door: every client connection before Pingora's HTTP/1 parser sees it.
//!
//! Pingora refuses a malformed request (too many headers, a header section over 1 MiB, a negative or
//! conflicting Content-Length, `Transfer-Encoding: chunked, identity`) with an empty 400 before any
//! `ProxyHttp` hook runs, waits for a trickled header section as long as each read brings a byte, and has
//! no cap on connections. [`Front`] wraps the proxy as a Pingora [`ServerApp`] and, for each connection:
//!
//! - refuses it with an OpenAI-shaped 503 when `--max-connections` are open already;
//! - reads each request head itself ([`Door`]): the first byte within the keep-alive timeout (else the
//!   idle connection is closed), the whole head within the client timeout (else 408), at most
//!   [`MAX_HEAD_BYTES`] and [`MAX_HEADERS`] (else 431); Content-Length and Transfer-Encoding are checked
//!   as RFC 9112 requires (else 400). Every refusal is `{"error": {...}}` JSON, then the connection closes;
//! - hands the connection to the proxy with the head still unread, through [`Door`], which lets Pingora
//!   read exactly that request (head and Content-Length body) and keeps any bytes after it (pipelined
//!   requests) for the next turn of the loop, so requests on one connection are answered in order.
//!
//! The cost on the request path: one extra copy and `httparse` parse of the head (about a microsecond for
//! the heads LLM clients send); bodies pass through without a copy.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Buf, BytesMut};
use pingora_core::apps::{HttpServerApp, ServerApp};
use pingora_core::protocols::http::ServerSession;
use pingora_core::protocols::raw_connect::ProxyDigest;
use pingora_core::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, SocketDigest, Ssl, Stream, TimingDigest,
    UniqueID, UniqueIDType,
};
use pingora_core::server::ShutdownWatch;
use pingora_proxy::HttpProxy;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::Instant;

use crate::error::Error;
use crate::proxy::Gateway;

/// The largest request head (request line and headers) accepted.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// The most header fields a request may have.
pub const MAX_HEADERS: usize = 128;
/// How long a refused client gets to take its answer before the connection is dropped.
const LINGER: Duration = Duration::from_secs(1);

/// Limits of the front door.
#[derive(Debug, Clone, Copy)]
pub struct FrontRules {
    /// Client connections open at once; the next one is refused with 503.
    pub max_connections: usize,
    /// How long a connection may wait idle for its next request.
    pub keepalive: Duration,
    /// How long a request head may take once its first byte came.
    pub client_timeout: Duration,
}

/// The proxy behind the front door (see the module doc).
pub struct Front {
    proxy: Arc<HttpProxy<Gateway>>,
    open: AtomicUsize,
    rules: FrontRules,
}

impl Front {
    /// Wraps `proxy` (from `pingora_proxy::http_proxy`).
    pub fn new(proxy: HttpProxy<Gateway>, rules: FrontRules) -> Front {
        Front { proxy: Arc::new(proxy), open: AtomicUsize::new(0), rules }
    }
}

/// Counts a connection as open for as long as it lives.
struct Open<'a>(&'a AtomicUsize);

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[async_trait]
impl ServerApp for Front {
    async fn process_new(self: &Arc<Self>, stream: Stream, shutdown: &ShutdownWatch) -> Option<Stream> {
        let open = self.open.fetch_add(1, Ordering::Relaxed) + 1;
        let _open = Open(&self.open);
        let mut door = Door::new(stream);
        if open > self.rules.max_connections {
            door.refuse(&Error::TooManyConnections(self.rules.max_connections)).await;
            return None;
        }
        loop {
            match door.read_head(self.rules.keepalive, self.rules.client_timeout, shutdown).await {
                Head::Request { len, body } => door.admit(len, body),
                Head::Closed => return None,
                Head::Refused(e) => {
                    door.refuse(&e).await;
                    return None;
                }
            }
            let mut session = ServerSession::new_http1(Box::new(door));
            let keepalive = if *shutdown.borrow() { None } else { Some(self.rules.keepalive.as_secs().max(1)) };
            session.set_keepalive(keepalive);
            let reused = self.proxy.process_new_http(session, shutdown).await?;
            let (stream, _) = reused.consume();
            door = match stream.into_any().downcast::<Door>() {
                Ok(door) => *door,
                Err(_) => return None,
            };
        }
    }

    async fn cleanup(&self) {
        self.proxy.http_cleanup().await;
    }
}

/// What the next request head is.
enum Head {
    /// A head of `len` bytes; its body: `Some(n)` bytes by Content-Length, `None` chunked.
    Request { len: usize, body: Option<u64> },
    /// The client closed, or stayed idle past the keep-alive timeout, between requests.
    Closed,
    /// Answer this and close.
    Refused(Error),
}

/// A client connection whose reads the front door controls: bytes read ahead (a head, pipelined requests)
/// are served first, and Pingora may read only `allowed` more bytes, the request it was handed.
#[derive(Debug)]
pub struct Door {
    inner: Stream,
    /// Read from the client, not yet handed to Pingora.
    ahead: BytesMut,
    /// Bytes Pingora may still read (`None`: no bound, a chunked body).
    allowed: Option<u64>,
}

impl Door {
    fn new(inner: Stream) -> Door {
        Door { inner, ahead: BytesMut::new(), allowed: Some(0) }
    }

    /// Lets Pingora read the head of `len` bytes and its body.
    fn admit(&mut self, len: usize, body: Option<u64>) {
        self.allowed = body.map(|b| b.saturating_add(len as u64));
    }

    /// Reads until a whole request head is in `ahead` (see the module doc for the limits); a connection idle
    /// between requests is closed at once when the server shuts down.
    async fn read_head(&mut self, idle: Duration, limit: Duration, shutdown: &ShutdownWatch) -> Head {
        let mut shutdown = shutdown.clone();
        let idle_until = Instant::now() + idle;
        let mut head_until = (!self.ahead.is_empty()).then(|| Instant::now() + limit);
        loop {
            if !self.ahead.is_empty() {
                match parse_head(&self.ahead) {
                    Ok(Some(Head::Request { len, .. })) if len > MAX_HEAD_BYTES => {
                        return Head::Refused(Error::HeaderTooLarge(format!(
                            "the request head is larger than {MAX_HEAD_BYTES} bytes"
                        )))
                    }
                    Ok(Some(head)) => return head,
                    Ok(None) => {}
                    Err(e) => return Head::Refused(e),
                }
                if self.ahead.len() > MAX_HEAD_BYTES {
                    return Head::Refused(Error::HeaderTooLarge(format!(
                        "the request head is larger than {MAX_HEAD_BYTES} bytes"
                    )));
                }
            }
            let until = head_until.unwrap_or(idle_until);
            if head_until.is_none() && *shutdown.borrow() {
                return Head::Closed;
            }
            self.ahead.reserve(4096);
            let read = tokio::time::timeout_at(until, self.inner.read_buf(&mut self.ahead));
            let read = tokio::select! {
                read = read => read,
                _ = shutdown.changed(), if head_until.is_none() => return Head::Closed,
            };
            match read {
                Ok(Ok(0)) | Ok(Err(_)) => return Head::Closed,
                Ok(Ok(_)) => {
                    head_until.get_or_insert_with(|| Instant::now() + limit);
                }
                Err(_) if head_until.is_none() => return Head::Closed,
                Err(_) => return Head::Refused(Error::ClientTimeout(limit.as_secs())),
            }
        }
    }

    /// Writes `e` as the answer, closes the connection, and lets the client read it (bounded).
    async fn refuse(&mut self, e: &Error) {
        let status = e.status();
        let body = e.body();
        let reason = http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Error");
        let head = format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n",
            body.len()
        );
        let write = async {
            self.inner.write_all(head.as_bytes()).await?;
            self.inner.write_all(&body).await?;
            self.inner.flush().await
        };
        if tokio::time::timeout(LINGER, write).await.is_err() {
            return;
        }
        // Unread bytes at close make the kernel send a reset, which can destroy the answer in flight:
        // read what the client still sends, for a moment, before closing.
        let mut sink = [0u8; 4096];
        let drain = async {
            for _ in 0..256 {
                if matches!(self.inner.read(&mut sink).await, Ok(0) | Err(_)) {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(LINGER, drain).await;
        Shutdown::shutdown(self.inner.as_mut()).await;
    }
}

/// Checks a request head in `buf`: `Ok(None)` when it is not complete yet.
fn parse_head(buf: &[u8]) -> Result<Option<Head>, Error> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Error::HeaderTooLarge(format!("the request has more than {MAX_HEADERS} header fields")))
        }
        Err(e) => return Err(Error::MalformedRequest(format!("the request head is not HTTP/1.1: {e}"))),
    };
    let mut length: Option<u64> = None;
    let mut chunked = None;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let text = std::str::from_utf8(h.value).unwrap_or("");
            for part in text.split(',') {
                let part = part.trim();
                let valid = !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
                let Some(n) = valid.then(|| part.parse::<u64>().ok()).flatten() else {
                    return Err(Error::MalformedRequest(format!("invalid Content-Length: {text:?}")));
                };
                if length.is_some_and(|l| l != n) {
                    return Err(Error::MalformedRequest("conflicting Content-Length headers".into()));
                }
                length = Some(n);
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            let text = std::str::from_utf8(h.value).unwrap_or("");
            let last = text.rsplit(',').next().unwrap_or("").trim();
            // Only `chunked` as the final coding tells where a request body ends (RFC 9112 6.3).
            chunked = Some(last.eq_ignore_ascii_case("chunked"));
            if chunked == Some(false) {
                return Err(Error::MalformedRequest(format!("unsupported Transfer-Encoding: {text:?}")));
            }
        }
    }
    if chunked.is_some() && length.is_some() {
        // Both at once is how requests are smuggled past proxies: refused, not guessed.
        return Err(Error::MalformedRequest("both Transfer-Encoding and Content-Length".into()));
    }
    let body = if chunked.is_some() { None } else { Some(length.unwrap_or(0)) };
    Ok(Some(Head::Request { len, body }))
}

impl AsyncRead for Door {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let room = match this.allowed {
            Some(0) => {
                // Pingora read its whole request; bytes after it belong to the next one. Keep them (bounded)
                // and report none, so a read here waits like one on a quiet socket.
                loop {
                    if this.ahead.len() > MAX_HEAD_BYTES * 4 {
                        return Poll::Ready(Err(io::Error::other("pipelined requests over the limit")));
                    }
                    let mut scratch = [0u8; 4096];
                    let mut rb = ReadBuf::new(&mut scratch);
                    match Pin::new(&mut this.inner).poll_read(cx, &mut rb) {
                        Poll::Ready(Ok(())) if rb.filled().is_empty() => return Poll::Ready(Ok(())),
                        Poll::Ready(Ok(())) => this.ahead.extend_from_slice(rb.filled()),
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Pending => return Poll::Pending,
                    }
                }
            }
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX).min(buf.remaining()),
            None => buf.remaining(),
        };
        if !this.ahead.is_empty() {
            let n = room.min(this.ahead.len());
            buf.put_slice(&this.ahead[..n]);
            this.ahead.advance(n);
            if let Some(a) = this.allowed.as_mut() {
                *a -= n as u64;
            }
            return Poll::Ready(Ok(()));
        }
        let n = if room >= buf.remaining() {
            let before = buf.filled().len();
            match Pin::new(&mut this.inner).poll_read(cx, buf) {
                Poll::Ready(Ok(())) => buf.filled().len() - before,
                other => return other,
            }
        } else {
            // Only `room` bytes may be read: a smaller buffer over the caller's (safe code, so the part
            // handed out is initialised first; it is at most the rest of a Content-Length body).
            let mut limited = ReadBuf::new(buf.initialize_unfilled_to(room));
            match Pin::new(&mut this.inner).poll_read(cx, &mut limited) {
                Poll::Ready(Ok(())) => {}
                other => return other,
            }
            let n = limited.filled().len();
            buf.advance(n);
            n
        };
        if let Some(a) = this.allowed.as_mut() {
            *a -= n as u64;
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Door {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[async_trait]
impl Shutdown for Door {
    async fn shutdown(&mut self) {
        Shutdown::shutdown(self.inner.as_mut()).await;
    }
}

impl UniqueID for Door {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for Door {}

impl GetTimingDigest for Door {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.inner.get_timing_digest()
    }
}

impl GetProxyDigest for Door {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.inner.get_proxy_digest()
    }
}

impl GetSocketDigest for Door {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.inner.get_socket_digest()
    }
}

impl Peek for Door {}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Result<Option<(usize, Option<u64>)>, u16> {
        match parse_head(text.as_bytes()) {
            Ok(Some(Head::Request { len, body })) => Ok(Some((len, body))),
            Ok(Some(_)) => Err(0),
            Ok(None) => Ok(None),
            Err(e) => Err(e.status()),
        }
    }

    #[test]
    fn heads_are_framed_by_content_length_or_chunked_and_partial_heads_wait() {
        let get = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        assert_eq!(head(get), Ok(Some((get.len(), Some(0)))));
        assert_eq!(head("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"), Ok(Some((38, Some(5)))));
        assert_eq!(head("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n").map(|h| h.map(|h| h.1)), Ok(Some(Some(5))));
        assert_eq!(
            head("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n").map(|h| h.map(|h| h.1)),
            Ok(Some(None))
        );
        assert_eq!(head("POST / HTTP/1.1\r\nHost: a\r\n"), Ok(None));
    }

    #[test]
    fn framing_attacks_are_refused_with_their_status() {
        for (text, status) in [
            ("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, identity\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400),
            ("GET /\x01 HTTP/1.1\r\n\r\n", 400),
        ] {
            assert_eq!(head(text), Err(status), "{text:?}");
        }
        let many: String = (0..MAX_HEADERS + 1).map(|i| format!("x-{i}: v\r\n")).collect();
        assert_eq!(head(&format!("GET / HTTP/1.1\r\n{many}\r\n")), Err(431));
    }
}
