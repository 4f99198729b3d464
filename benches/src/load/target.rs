//! A trivial HTTP/1.1 server to aim the generator at (`load-target`, and the tests): `/ok` answers
//! 200, `/fail` 500, `/close` 200 with `connection: close`, anything else 404. With `close_every`
//! N, every Nth request (counted over all connections) is dropped unanswered with its connection.
//! It answers from fixed bytes so that what it measures is the generator, not the server.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok";
const FAIL: &[u8] =
    b"HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain\r\ncontent-length: 4\r\n\r\nfail";
const CLOSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok";
const NOT_FOUND: &[u8] = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n";
/// Request heads beyond this are not what the generator sends; the connection is dropped.
const MAX_HEAD: usize = 64 * 1024;

/// Requests seen (heads read), over all connections.
#[derive(Default)]
pub struct Served {
    pub requests: AtomicU64,
}

/// Accepts connections until the task is dropped.
pub async fn serve(listener: TcpListener, close_every: u64, served: Arc<Served>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors, for instance: the listener stays usable.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        let served = Arc::clone(&served);
        tokio::spawn(async move {
            let _ = connection(stream, close_every, &served).await;
        });
    }
}

async fn connection(mut stream: TcpStream, close_every: u64, served: &Served) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = Vec::with_capacity(1024);
    loop {
        let head_len = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            if buf.len() > MAX_HEAD || stream.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
        };
        let seen = served.requests.fetch_add(1, Ordering::Relaxed) + 1;
        if close_every > 0 && seen.is_multiple_of(close_every) {
            return Ok(());
        }
        let path = buf[..head_len]
            .split(|b| *b == b' ')
            .nth(1)
            .unwrap_or_default();
        let answer = match path {
            b"/ok" => OK,
            b"/fail" => FAIL,
            b"/close" => CLOSE,
            _ => NOT_FOUND,
        };
        stream.write_all(answer).await?;
        if answer == CLOSE {
            return Ok(());
        }
        buf.drain(..head_len);
    }
}
