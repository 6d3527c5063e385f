//! A minimal HTTP/1.1 client over keep-alive TCP connections, made for measuring: requests are
//! pre-serialized bytes, responses are parsed just enough to find their end (`Content-Length`
//! or `Transfer-Encoding: chunked`, RFC 9112 §6–7) and to time the first body data, which for
//! an SSE stream is the first event (time to first token). Sockets set TCP_NODELAY, so the
//! generator never adds Nagle delays of its own.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::BenchError;

/// A request ready to write: head and body.
#[derive(Debug, Clone)]
pub struct Request {
    bytes: Vec<u8>,
}

impl Request {
    /// A `POST` of a JSON body with the given extra header lines (each `Name: value`).
    pub fn post_json(addr: SocketAddr, path: &str, headers: &[String], body: &[u8]) -> Request {
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
        for h in headers {
            head.push_str(h);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        Request { bytes }
    }
}

/// What one exchange took.
#[derive(Debug, Clone, Copy)]
pub struct Reply {
    pub status: u16,
    /// From the start instant to the first body bytes (the first SSE event of a stream).
    pub first_data: Duration,
    /// From the start instant to the end of the body.
    pub total: Duration,
    /// Pollux's own time for the request as it measured it (`x-pollux-overhead-us`: until
    /// the response head, minus the wait for Gemini), when the server sent it.
    pub overhead: Option<Duration>,
}

/// One keep-alive connection.
pub struct Conn {
    stream: TcpStream,
    /// Bytes read and not yet consumed.
    buf: Vec<u8>,
    /// The server said `Connection: close`; do not reuse.
    closed: bool,
}

/// The parsed head of a response.
struct Head {
    status: u16,
    len: usize,
    body: BodyKind,
    close: bool,
    overhead: Option<Duration>,
}

enum BodyKind {
    Length(usize),
    Chunked,
    /// Neither length nor chunked: the body runs until the connection closes.
    UntilClose,
}

const READ_SIZE: usize = 16 * 1024;

impl Conn {
    pub async fn connect(addr: SocketAddr) -> Result<Conn, BenchError> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::new(),
            closed: false,
        })
    }

    /// The connection can carry another request.
    pub fn reusable(&self) -> bool {
        !self.closed
    }

    /// Sends a request and reads the whole response; times are measured from `start` (the
    /// scheduled send time in open-loop runs, so queueing counts).
    pub async fn exchange(&mut self, req: &Request, start: Instant) -> Result<Reply, BenchError> {
        self.stream.write_all(&req.bytes).await?;
        let head = self.read_head().await?;
        let mut first_data = None;
        match head.body {
            BodyKind::Length(n) => {
                if n > 0 {
                    self.fill_to(head.len + 1).await?;
                    first_data = Some(start.elapsed());
                }
                self.fill_to(head.len + n).await?;
                self.buf.drain(..head.len + n);
            }
            BodyKind::Chunked => {
                self.buf.drain(..head.len);
                self.read_chunks(|| {
                    if first_data.is_none() {
                        first_data = Some(start.elapsed());
                    }
                    true
                })
                .await?;
            }
            BodyKind::UntilClose => {
                self.buf.drain(..head.len);
                loop {
                    if !self.buf.is_empty() && first_data.is_none() {
                        first_data = Some(start.elapsed());
                    }
                    self.buf.clear();
                    if self.read_more().await? == 0 {
                        break;
                    }
                }
                self.closed = true;
            }
        }
        self.closed |= head.close;
        let total = start.elapsed();
        Ok(Reply {
            status: head.status,
            first_data: first_data.unwrap_or(total),
            total,
            overhead: head.overhead,
        })
    }

    /// Sends a streaming request and returns once its first body data arrived, leaving the
    /// stream open (the caller holds or drops the connection). Returns the status and the
    /// time to first data.
    pub async fn open_stream(
        &mut self,
        req: &Request,
        start: Instant,
    ) -> Result<(u16, Duration), BenchError> {
        self.stream.write_all(&req.bytes).await?;
        let head = self.read_head().await?;
        if head.status != 200 {
            return Ok((head.status, start.elapsed()));
        }
        self.fill_to(head.len + 1).await?;
        self.buf.clear();
        self.buf.shrink_to(0);
        self.closed = true;
        Ok((head.status, start.elapsed()))
    }

    /// Reads chunks until the last one; `on_data` is called for each non-empty chunk and
    /// returns whether to go on.
    async fn read_chunks(&mut self, mut on_data: impl FnMut() -> bool) -> Result<(), BenchError> {
        loop {
            let line_end = loop {
                if let Some(i) = find(&self.buf, b"\r\n") {
                    break i;
                }
                self.read_or_eof().await?;
            };
            let line = std::str::from_utf8(&self.buf[..line_end])
                .map_err(|_| BenchError::Protocol("chunk size is not text".into()))?;
            let size_text = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| BenchError::Protocol(format!("bad chunk size {size_text:?}")))?;
            if size == 0 {
                // No trailers are sent by the servers measured: the last chunk ends with CRLF.
                self.fill_to(line_end + 4).await?;
                self.buf.drain(..line_end + 4);
                return Ok(());
            }
            if !on_data() {
                return Ok(());
            }
            let end = line_end + 2 + size + 2;
            self.fill_to(end).await?;
            self.buf.drain(..end);
        }
    }

    async fn read_head(&mut self) -> Result<Head, BenchError> {
        let end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            self.read_or_eof().await?;
        };
        let text = std::str::from_utf8(&self.buf[..end])
            .map_err(|_| BenchError::Protocol("response head is not text".into()))?;
        let mut lines = text.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| BenchError::Protocol("bad status line".into()))?;
        let mut body = BodyKind::UntilClose;
        let mut close = false;
        let mut overhead = None;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                let n = value
                    .parse()
                    .map_err(|_| BenchError::Protocol("bad content-length".into()))?;
                body = BodyKind::Length(n);
            } else if name.eq_ignore_ascii_case("transfer-encoding")
                && value.eq_ignore_ascii_case("chunked")
            {
                body = BodyKind::Chunked;
            } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close")
            {
                close = true;
            } else if name.eq_ignore_ascii_case("x-pollux-overhead-us") {
                overhead = value.parse().ok().map(Duration::from_micros);
            }
        }
        if status == 204 || status == 304 {
            body = BodyKind::Length(0);
        }
        Ok(Head {
            status,
            len: end,
            body,
            close,
            overhead,
        })
    }

    async fn fill_to(&mut self, n: usize) -> Result<(), BenchError> {
        while self.buf.len() < n {
            self.read_or_eof().await?;
        }
        Ok(())
    }

    async fn read_or_eof(&mut self) -> Result<(), BenchError> {
        if self.read_more().await? == 0 {
            self.closed = true;
            return Err(BenchError::Protocol(
                "connection closed mid-response".into(),
            ));
        }
        Ok(())
    }

    async fn read_more(&mut self) -> Result<usize, BenchError> {
        self.buf.reserve(READ_SIZE);
        Ok(self.stream.read_buf(&mut self.buf).await?)
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
