//! Listeners that a local user cannot exhaust: a cap on open connections and an idle timeout
//! on each, for the control socket and the HTTP listener alike.
//!
//! Without a cap, a thousand idle connections use up the process's file descriptors, so
//! `accept` fails at once, forever (a busy loop), and the sources and receivers cannot open
//! sockets either. A connection waits for a permit *before* it is accepted: the waiting ones
//! sit in the kernel's backlog, which costs this process nothing. Accept errors are retried
//! after a pause (axum's [`Listener`] impls sleep a second and log), never in a tight loop.
//!
//! A listener may keep a few *reserved* slots beyond its limit: a connection accepted while
//! every ordinary slot is taken gets one, and says so ([`Conn::reserved`]), so the server can
//! serve it only what must never wait (the web's `/healthz` and `/metrics`). Which path a
//! client wants is only known after its head is read, hence a reserve and not a queue.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::serve::Listener;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_io_timeout::TimeoutStream;

/// A listener that holds at most `limit` connections open (plus its reserve, if any) and
/// closes one that neither reads nor writes for `idle`.
pub struct Bounded<L> {
    inner: L,
    permits: Arc<Semaphore>,
    reserve: Arc<Semaphore>,
    idle: Duration,
}

impl<L: Listener> Bounded<L> {
    pub fn new(inner: L, limit: usize, idle: Duration) -> Bounded<L> {
        Bounded {
            inner,
            permits: Arc::new(Semaphore::new(limit)),
            reserve: Arc::new(Semaphore::new(0)),
            idle,
        }
    }

    /// Keeps `slots` more connections for when the `limit` is reached (see the module doc).
    pub fn with_reserve(mut self, slots: usize) -> Bounded<L> {
        self.reserve = Arc::new(Semaphore::new(slots));
        self
    }
}

/// An ordinary slot if one is free, else a reserved one, else the first to come free; and
/// whether it is reserved.
async fn slot(ordinary: Arc<Semaphore>, reserve: Arc<Semaphore>) -> (OwnedSemaphorePermit, bool) {
    const OPEN: &str = "the semaphores are never closed";
    tokio::select! {
        biased;
        p = ordinary.acquire_owned() => (p.expect(OPEN), false),
        p = reserve.acquire_owned() => (p.expect(OPEN), true),
    }
}

impl<L: Listener> Listener for Bounded<L> {
    type Io = Conn<L::Io>;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (permit, reserved) = slot(self.permits.clone(), self.reserve.clone()).await;
        let (io, addr) = self.inner.accept().await;
        let mut io = TimeoutStream::new(io);
        io.set_read_timeout(Some(self.idle));
        io.set_write_timeout(Some(self.idle));
        (
            Conn {
                io: Box::pin(io),
                _permit: permit,
                reserved,
            },
            addr,
        )
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// An accepted connection; its permit returns to the listener when it is dropped.
pub struct Conn<S> {
    io: Pin<Box<TimeoutStream<S>>>,
    _permit: OwnedSemaphorePermit,
    reserved: bool,
}

impl<S> Conn<S> {
    /// Whether this connection holds a reserved slot: every ordinary one was taken.
    pub fn reserved(&self) -> bool {
        self.reserved
    }
}

impl<S: AsyncRead + AsyncWrite> AsyncRead for Conn<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.io.as_mut().poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite> AsyncWrite for Conn<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.io.as_mut().poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.io.as_mut().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.io.as_mut().poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_full_listener_waits_and_an_idle_connection_is_closed() {
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let mut listener = Bounded::new(tcp, 1, Duration::from_millis(300));
        let _idle = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut first, _) = listener.accept().await;
        let mut second = tokio::net::TcpStream::connect(addr).await.unwrap();
        // The only permit is taken: the second connection is not accepted...
        let waiting = tokio::time::timeout(Duration::from_millis(100), listener.accept()).await;
        assert!(waiting.is_err(), "accepted past the limit");
        // ...until the idle one times out and is dropped.
        let mut buf = [0u8; 1];
        let err = first.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        drop(first);
        let (mut conn, _) = listener.accept().await;
        second.write_all(b"x").await.unwrap();
        conn.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"x");
    }

    #[tokio::test]
    async fn a_full_listener_still_accepts_into_its_reserve_and_says_so() {
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let mut listener = Bounded::new(tcp, 1, Duration::from_secs(30)).with_reserve(1);
        let _clients = [
            tokio::net::TcpStream::connect(addr).await.unwrap(),
            tokio::net::TcpStream::connect(addr).await.unwrap(),
            tokio::net::TcpStream::connect(addr).await.unwrap(),
        ];
        let (ordinary, _) = listener.accept().await;
        let (reserved, _) = listener.accept().await;
        assert!(!ordinary.reserved() && reserved.reserved());
        // Both kinds are taken: the third waits...
        let waiting = tokio::time::timeout(Duration::from_millis(100), listener.accept()).await;
        assert!(waiting.is_err(), "accepted past the limit and the reserve");
        // ...and takes the ordinary slot that comes free.
        drop(ordinary);
        let (third, _) = listener.accept().await;
        assert!(!third.reserved());
    }
}
