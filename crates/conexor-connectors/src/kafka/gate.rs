//! Every broker dial passes the destination policy here.
//!
//! A Kafka client connects to the bootstrap servers, then to whatever
//! addresses the cluster's metadata advertises — addresses the user never
//! typed, and a hostile or misconfigured cluster could name a metadata
//! endpoint or an internal host. rskafka dials brokers itself and has no
//! resolver hook, but it can dial through a SOCKS5 proxy: this is that proxy,
//! in-process on loopback, one per source. It resolves each name the client
//! asks for, refuses the dial when any address is one the policy refuses
//! (and remembers why, so the connector can say so), and otherwise connects
//! to the address it checked — the client never resolves a name itself.

use crate::policy::{DestinationPolicy, check_ip};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub(crate) struct Gate {
    pub addr: SocketAddr,
    /// The last dial the policy refused, and why.
    pub refused: Arc<Mutex<Option<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Gate {
    pub async fn start(
        policy: DestinationPolicy,
        connect_timeout: Duration,
    ) -> std::io::Result<Gate> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let refused = Arc::new(Mutex::new(None));
        let seen = refused.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, peer)) = listener.accept().await {
                // Only this process dials its gate.
                if !peer.ip().is_loopback() {
                    continue;
                }
                let policy = policy.clone();
                let seen = seen.clone();
                tokio::spawn(async move {
                    let _ = relay(client, &policy, connect_timeout, &seen).await;
                });
            }
        });
        Ok(Gate {
            addr,
            refused,
            task,
        })
    }

    pub fn last_refusal(&self) -> Option<String> {
        self.refused.lock().ok().and_then(|r| r.clone())
    }
}

/// One SOCKS5 CONNECT (RFC 1928, no authentication), checked, then relayed.
async fn relay(
    mut client: TcpStream,
    policy: &DestinationPolicy,
    connect_timeout: Duration,
    refused: &Mutex<Option<String>>,
) -> std::io::Result<()> {
    let mut head = [0u8; 2];
    client.read_exact(&mut head).await?;
    if head[0] != 5 {
        return Ok(());
    }
    let mut methods = vec![0u8; head[1] as usize];
    client.read_exact(&mut methods).await?;
    if !methods.contains(&0) {
        client.write_all(&[5, 0xff]).await?;
        return Ok(());
    }
    client.write_all(&[5, 0]).await?;
    let mut request = [0u8; 4];
    client.read_exact(&mut request).await?;
    if request[0] != 5 || request[1] != 1 {
        client.write_all(&[5, 7, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
        return Ok(());
    }
    let host = match request[3] {
        1 => {
            let mut ip = [0u8; 4];
            client.read_exact(&mut ip).await?;
            IpAddr::from(ip).to_string()
        }
        4 => {
            let mut ip = [0u8; 16];
            client.read_exact(&mut ip).await?;
            IpAddr::from(ip).to_string()
        }
        3 => {
            let mut len = [0u8; 1];
            client.read_exact(&mut len).await?;
            let mut name = vec![0u8; len[0] as usize];
            client.read_exact(&mut name).await?;
            String::from_utf8_lossy(&name).into_owned()
        }
        _ => {
            client.write_all(&[5, 8, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
            return Ok(());
        }
    };
    let mut port = [0u8; 2];
    client.read_exact(&mut port).await?;
    let port = u16::from_be_bytes(port);
    let refuse = |why: String| {
        if let Ok(mut r) = refused.lock() {
            *r = Some(why);
        }
    };
    let addrs: Vec<SocketAddr> = match tokio::net::lookup_host((host.as_str(), port)).await {
        Ok(found) => found.collect(),
        Err(_) => {
            client.write_all(&[5, 4, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
            return Ok(());
        }
    };
    for a in &addrs {
        if let Err(crate::Error::Destination(why)) = check_ip(a.ip(), policy) {
            refuse(format!(
                "the broker address {host}:{port} is refused: {why}"
            ));
            // 2: connection not allowed by ruleset.
            client.write_all(&[5, 2, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
            return Ok(());
        }
    }
    let mut upstream = None;
    for a in addrs {
        if let Ok(Ok(stream)) = tokio::time::timeout(connect_timeout, TcpStream::connect(a)).await {
            upstream = Some(stream);
            break;
        }
    }
    let Some(mut upstream) = upstream else {
        // 5: connection refused.
        client.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
        return Ok(());
    };
    client.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}
