//! How connections are served: every connection, plain or TLS, must finish
//! its TLS handshake and deliver its first request's headers within the
//! header timeout, and later requests on a kept-alive HTTP/1.1 connection
//! get the same time for their headers (hyper's `header_read_timeout`).
//! Without this a client sending half a header, or nothing, holds a
//! connection and its task open for ever. Every accepted socket also gets
//! `TCP_NODELAY`, so the last bytes of an answer are not held back.
//!
//! The other direction too: a client that stops reading its answer (the
//! socket's send buffer stays full) for the write-stall timeout has its
//! connection closed, and the answer held for it is freed. Without this, each
//! client that asks for a large answer and never reads it keeps the answer in
//! the server's memory for as long as it keeps the socket open.

use axum_server::accept::Accept;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Sets hyper's timers: request headers within `header_timeout` on
/// HTTP/1.1 (including the idle wait for a kept-alive connection's next
/// request); HTTP/2 gets a timer for its keep-alive pings and the CONNECT
/// protocol for WebSockets, as `axum::serve` enables.
pub fn tune(builder: &mut Builder<TokioExecutor>, header_timeout: Duration) {
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .enable_connect_protocol();
}

/// An acceptor that wraps each accepted stream so that, until the
/// connection's first request reaches the service, reads fail once
/// `timeout` has passed since the connection was accepted. That covers the
/// TLS handshake (when a TLS acceptor runs on top), the HTTP/1 versus
/// HTTP/2 detection, which hyper runs without a timer, and the first
/// request's headers.
#[derive(Clone)]
pub struct FirstRequestDeadline<A> {
    inner: A,
    timeout: Duration,
    write_stall: Duration,
}

impl<A> FirstRequestDeadline<A> {
    /// `timeout` for the first request's headers, `write_stall` for a write
    /// that cannot make progress because the client does not read.
    pub fn new(inner: A, timeout: Duration, write_stall: Duration) -> Self {
        FirstRequestDeadline {
            inner,
            timeout,
            write_stall,
        }
    }
}

impl<A, S> Accept<tokio::net::TcpStream, S> for FirstRequestDeadline<A>
where
    A: Accept<DeadlineStream<tokio::net::TcpStream>, MarkArrived<S>>,
    A::Future: Send + 'static,
{
    type Stream = A::Stream;
    type Service = A::Service;
    type Future = Pin<Box<dyn Future<Output = io::Result<(A::Stream, A::Service)>> + Send>>;

    fn accept(&self, stream: tokio::net::TcpStream, service: S) -> Self::Future {
        // Answers are written in pieces (the body, then the chunked encoding's
        // last chunk): with Nagle's algorithm on, the last piece waited for the
        // peer's delayed ACK, about 40 ms per answer on a kept-alive connection.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "Could not set TCP_NODELAY.");
        }
        let arrived = Arc::new(AtomicBool::new(false));
        let stream = DeadlineStream {
            inner: stream,
            arrived: arrived.clone(),
            deadline: Some(Box::pin(tokio::time::sleep(self.timeout))),
            write_stall: self.write_stall,
            stalled_since: None,
        };
        let service = MarkArrived {
            inner: service,
            arrived,
        };
        Box::pin(self.inner.accept(stream, service))
    }
}

/// A stream whose reads fail after a deadline unless a request has arrived,
/// and whose writes fail once they have made no progress for `write_stall`.
pub struct DeadlineStream<I> {
    inner: I,
    arrived: Arc<AtomicBool>,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    write_stall: Duration,
    /// Running while a write waits for the client to read.
    stalled_since: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<I> DeadlineStream<I> {
    /// After a write attempt: a pending write starts (or keeps polling) the
    /// stall timer, which turns into an error once it fires; progress stops it.
    fn watch_write<T>(
        &mut self,
        cx: &mut Context<'_>,
        attempt: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if attempt.is_ready() {
            self.stalled_since = None;
            return attempt;
        }
        let stall = self.write_stall;
        let timer = self
            .stalled_since
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(stall)));
        if timer.as_mut().poll(cx).is_ready() {
            self.stalled_since = None;
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading its answer",
            )));
        }
        Poll::Pending
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for DeadlineStream<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.arrived.load(Ordering::Acquire) {
            this.deadline = None;
        }
        if let Some(deadline) = this.deadline.as_mut()
            && deadline.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no complete request headers within the header timeout",
            )));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for DeadlineStream<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let attempt = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.watch_write(cx, attempt)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let attempt = Pin::new(&mut this.inner).poll_flush(cx);
        this.watch_write(cx, attempt)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let attempt = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.watch_write(cx, attempt)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The connection's service, noting that a request (its headers complete)
/// has arrived.
#[derive(Clone)]
pub struct MarkArrived<S> {
    inner: S,
    arrived: Arc<AtomicBool>,
}

impl<S, R> tower::Service<R> for MarkArrived<S>
where
    S: tower::Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        self.arrived.store(true, Ordering::Release);
        self.inner.call(request)
    }
}
