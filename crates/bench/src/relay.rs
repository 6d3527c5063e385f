//! The null adapter: a TCP relay that copies bytes between the generator and the mock and
//! does nothing else.
//!
//! Any adapter puts two more loopback exchanges on a request's path (client → adapter →
//! upstream and back), each with its socket writes, reads and process wake-ups. The relay
//! pays exactly those and no HTTP, JSON or logging, on the same core as the adapter, so its
//! column is the floor every adapter starts from on this machine, and `adapter - relay` is
//! what the adapter's own work adds. It runs as `pollux-bench --relay-to ADDR --relay-listen
//! ADDR` in its own process, pinned like the adapters, on a current-thread runtime (one core,
//! like Pollux's single worker), with TCP_NODELAY on both sides.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};

/// Serves until killed: every accepted connection gets its own upstream connection.
pub fn run(listen: SocketAddr, to: SocketAddr) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move { serve(TcpListener::bind(listen).await?, to).await })
}

async fn serve(listener: TcpListener, to: SocketAddr) -> std::io::Result<()> {
    loop {
        let (client, _) = listener.accept().await?;
        tokio::spawn(async move {
            let _ = pipe(client, to).await;
        });
    }
}

async fn pipe(mut client: TcpStream, to: SocketAddr) -> std::io::Result<()> {
    client.set_nodelay(true)?;
    let mut upstream = TcpStream::connect(to).await?;
    upstream.set_nodelay(true)?;
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Bytes go through both ways, several exchanges on one connection, and each side sees
    /// the other's close. Everything runs on this test's runtime and stops with it.
    #[test]
    fn the_relay_copies_both_ways_on_one_connection() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let upstream_addr = upstream.local_addr().unwrap();
            // The upstream answers every read with the bytes reversed.
            tokio::spawn(async move {
                let (mut conn, _) = upstream.accept().await.unwrap();
                let mut buf = [0u8; 64];
                loop {
                    let n = conn.read(&mut buf).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    buf[..n].reverse();
                    conn.write_all(&buf[..n]).await.unwrap();
                }
            });
            let relay = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let relay_addr = relay.local_addr().unwrap();
            tokio::spawn(serve(relay, upstream_addr));
            let mut client = TcpStream::connect(relay_addr).await.unwrap();
            for word in [&b"abc"[..], b"hello"] {
                client.write_all(word).await.unwrap();
                let mut got = vec![0u8; word.len()];
                tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    client.read_exact(&mut got),
                )
                .await
                .unwrap()
                .unwrap();
                let mut want = word.to_vec();
                want.reverse();
                assert_eq!(got, want);
            }
            client.shutdown().await.unwrap();
            let mut rest = Vec::new();
            let n = tokio::time::timeout(
                std::time::Duration::from_secs(5),
                client.read_to_end(&mut rest),
            )
            .await
            .unwrap()
            .unwrap();
            assert_eq!(n, 0);
        });
    }
}
