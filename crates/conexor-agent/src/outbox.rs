//! The way out to the server: one socket, shared by the writer task and the
//! request tasks.
//!
//! Most frames are queued for the writer task, which sends what is queued
//! together in one flush and keeps their order. A request whose whole
//! answer is one frame (a small result with `rows_in_done`, an error, an
//! object read) writes it itself when the socket is free: no hand-off to
//! another task, one wake-up fewer per call. When the socket is busy it
//! queues like any other frame. Frames of one request keep their order: a
//! request that queued anything sends the rest through the queue too.

use futures::SinkExt;
use futures::stream::SplitSink;
use std::time::Duration;
use tokio::sync::{Mutex, mpsc};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub(crate) type WsSink = SplitSink<WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>, Message>;

/// How long one write may wait for a server that stops reading.
pub(crate) const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// Most queued frames sent in one flush.
const COALESCE: usize = 64;

/// The socket's sending half, for the writer and for direct answers.
pub(crate) struct Socket {
    sink: Mutex<WsSink>,
}

impl Socket {
    pub(crate) fn new(sink: WsSink) -> Socket {
        Socket {
            sink: Mutex::new(sink),
        }
    }

    /// Sends a request's only frame: written here when the socket is free,
    /// queued otherwise. False when the session is gone.
    pub(crate) async fn answer(&self, queue: &mpsc::Sender<Message>, frame: Message) -> bool {
        match self.sink.try_lock() {
            Ok(mut sink) => matches!(
                tokio::time::timeout(SEND_TIMEOUT, sink.send(frame)).await,
                Ok(Ok(()))
            ),
            Err(_) => queue.send(frame).await.is_ok(),
        }
    }

    /// The writer: sends what is queued, coalesced, until every sender is
    /// gone or the server stops reading; then closes the socket.
    pub(crate) async fn write_queued(&self, mut queue: mpsc::Receiver<Message>) {
        while let Some(first) = queue.recv().await {
            let mut sink = self.sink.lock().await;
            let sent = async {
                sink.feed(first).await?;
                for _ in 1..COALESCE {
                    let Ok(more) = queue.try_recv() else { break };
                    sink.feed(more).await?;
                }
                sink.flush().await
            };
            // A server that stops reading ends the session rather than the agent.
            match tokio::time::timeout(SEND_TIMEOUT, sent).await {
                Ok(Ok(())) => {}
                _ => break,
            }
        }
        let mut sink = self.sink.lock().await;
        let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
    }
}
