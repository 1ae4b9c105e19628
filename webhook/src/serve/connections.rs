//! Accepting TLS connections and serving HTTP/1.1 on them under the limits a hostile client
//! meets ([`Limits`]), and draining them on shutdown: stop accepting, let in-flight requests
//! finish within the grace period.
//!
//! | limit | what it stops |
//! |---|---|
//! | [`Limits::max_connections`], idle first ([`super::connection_table`]) | idle connections exhausting descriptors and memory |
//! | [`Limits::read_timeout`] for the TLS handshake | handshakes that never finish |
//! | [`Limits::read_timeout`] from a request's first byte to its last ([`RequestClock`], [`super::request_body`]) | headers or bodies sent a byte at a time |
//! | [`Limits::idle_timeout`] (hyper's header read timeout, which runs from the moment a connection waits for a request) | kept-alive connections held for nothing |
//!
//! The API server sends each AdmissionReview whole over a connection it keeps alive, so none of
//! these limits is near what it does.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use super::connection_table::{Closed, ConnectionTable};

/// The connection limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The most connections open at once.
    pub max_connections: usize,
    /// Longest a TLS handshake may take, and a request from its first byte to its last.
    pub read_timeout: Duration,
    /// Longest a connection may wait for its next request.
    pub idle_timeout: Duration,
    /// Time in-flight requests get after shutdown starts.
    pub grace: Duration,
}

/// When the request being read on a connection began, for its deadline.
#[derive(Debug, Default)]
pub struct RequestClock {
    state: Mutex<Reading>,
    arrived: Notify,
}

#[derive(Debug, Clone, Copy, Default)]
enum Reading {
    /// Waiting for a request.
    #[default]
    Idle,
    /// A request's first byte arrived at this instant; its head is not complete yet.
    Head(Instant),
    /// A request is being handled (its body is read by the handler, by its own deadline).
    Busy,
}

impl RequestClock {
    fn with<T>(&self, f: impl FnOnce(&mut Reading) -> T) -> T {
        // Nothing panics while holding the lock.
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut state)
    }

    /// Bytes arrived: the first byte of a request starts its clock.
    fn bytes_arrived(&self) {
        let started = self.with(|state| {
            if matches!(state, Reading::Idle) {
                *state = Reading::Head(Instant::now());
                true
            } else {
                false
            }
        });
        if started {
            self.arrived.notify_one();
        }
    }

    /// The head is complete and the handler runs: the request's first byte (now, if its bytes
    /// were read with the previous request's).
    fn handling(&self) -> Instant {
        self.with(|state| {
            let began = match *state {
                Reading::Head(at) => at,
                _ => Instant::now(),
            };
            *state = Reading::Busy;
            began
        })
    }

    /// The request was answered.
    fn answered(&self) {
        self.with(|state| *state = Reading::Idle);
    }

    fn head_started(&self) -> Option<Instant> {
        self.with(|state| match *state {
            Reading::Head(at) => Some(at),
            _ => None,
        })
    }
}

/// The deadline of a request (its first byte plus [`Limits::read_timeout`]) and the time it
/// had, as a request extension for the handler that reads the body.
#[derive(Debug, Clone, Copy)]
pub struct RequestDeadline {
    /// The instant by which the whole request must have arrived.
    pub at: Instant,
    /// [`Limits::read_timeout`].
    pub allowed: Duration,
}

/// A stream that tells its [`RequestClock`] when bytes arrive.
struct ClockedIo<T> {
    inner: T,
    clock: Arc<RequestClock>,
}

impl<T: AsyncRead + Unpin> AsyncRead for ClockedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.clock.bytes_arrived();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ClockedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains. `table` holds the
/// connections (its metrics are registered by the caller).
pub async fn serve(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    app: Router,
    limits: Limits,
    table: Arc<ConnectionTable>,
    draining: Arc<AtomicBool>,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.idle_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %err, open = table.len(), "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // At the cap, the longest-idle connection makes room; if none is idle, this one goes.
        let Some(connection) = table.admit() else {
            tracing::debug!(%peer, "connection refused: every connection has a request in flight");
            drop(stream);
            continue;
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        let http = http.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let connection = Arc::new(connection);
            let handshake = tokio::time::timeout(limits.read_timeout, acceptor.accept(stream));
            let tls = tokio::select! {
                done = handshake => match done {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(err)) => {
                        tracing::debug!(%peer, error = %err, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        connection.table().count_closed(Closed::HandshakeTimeout);
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                },
                () = connection.evicted() => return,
            };
            let clock = Arc::new(RequestClock::default());
            let io = ClockedIo {
                inner: tls,
                clock: clock.clone(),
            };
            let service = {
                let (clock, connection) = (clock.clone(), connection.clone());
                hyper::service::service_fn(move |mut request| {
                    let (app, clock, connection) = (app.clone(), clock.clone(), connection.clone());
                    connection.started();
                    let began = clock.handling();
                    request.extensions_mut().insert(RequestDeadline {
                        at: began + limits.read_timeout,
                        allowed: limits.read_timeout,
                    });
                    async move {
                        let response = app.oneshot(request).await;
                        clock.answered();
                        connection.finished();
                        response
                    }
                })
            };
            let serving = watcher.watch(http.serve_connection(TokioIo::new(io), service));
            tokio::pin!(serving);
            loop {
                let head_deadline = clock.head_started().map(|t| t + limits.read_timeout);
                tokio::select! {
                    served = &mut serving => {
                        if let Err(err) = served {
                            tracing::debug!(%peer, error = %err, "connection ended with an error");
                        }
                        break;
                    }
                    () = connection.evicted() => {
                        tracing::debug!(%peer, "idle connection closed to make room");
                        break;
                    }
                    () = clock.arrived.notified() => {}
                    () = tokio::time::sleep_until(head_deadline.unwrap_or_else(Instant::now)), if head_deadline.is_some() => {
                        // The head may have completed since the deadline was computed.
                        let late = clock
                            .head_started()
                            .is_some_and(|t| t + limits.read_timeout <= Instant::now());
                        if late {
                            connection.table().count_closed(Closed::RequestTimeout);
                            tracing::debug!(%peer, "request headers incomplete at the deadline; connection closed");
                            break;
                        }
                    }
                }
            }
        });
    }
    draining.store(true, Ordering::Relaxed);
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections drained"),
        () = tokio::time::sleep(limits.grace) => tracing::warn!(grace = ?limits.grace, "grace period over; closing the remaining connections"),
    }
}
