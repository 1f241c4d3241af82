//! The HTTP server of both listeners: actix's HTTP/1 service over our own accept loop, so
//! that every answer — also those the framework writes before a request reaches Levy —
//! has the one JSON error shape, and a listener holds a bounded number of connections.

use crate::error::{ErrorCode, LevyError};
use actix_http::{body::MessageBody, HttpService, Request, Response};
use actix_service::{fn_service, map_config, IntoServiceFactory, ServiceFactory};
use actix_service::{Service, ServiceFactoryExt as _};
use actix_web::dev::AppConfig;
use std::future::ready;
use std::io;
use std::net::TcpListener;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How one listener runs.
pub struct Options {
    pub name: &'static str,
    pub workers: usize,
    pub blocking_threads: usize,
    /// Open connections per worker; past it the worker stops accepting until one closes.
    pub max_connections: usize,
    /// Time a client has to send a request's head.
    pub head_timeout: Duration,
}

/// Serves `factory`'s app on `listener` until stopped (SIGTERM/SIGINT or a handle).
pub fn serve<F, I, S, B>(
    listener: TcpListener,
    options: Options,
    factory: F,
) -> io::Result<actix_web::dev::Server>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: std::fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    <S::Service as Service<Request>>::Future: 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    let builder = actix_server::Server::build();
    let shutdown = builder.graceful_shutdown_signal();
    let head_timeout = options.head_timeout;
    Ok(builder
        .workers(options.workers)
        .worker_max_blocking_threads(options.blocking_threads)
        .max_concurrent_connections(options.max_connections)
        .shutdown_timeout(10)
        .listen(options.name, listener, move || {
            let shutdown = shutdown.clone();
            let http = HttpService::build()
                .client_request_timeout(head_timeout)
                .graceful_shutdown_signal(move || {
                    let signal = shutdown.clone();
                    async move { signal.notified().await }
                })
                .h1(map_config(
                    factory()
                        .into_factory()
                        .map_err(|e| e.into().error_response()),
                    |_| AppConfig::default(),
                ));
            fn_service(|io: actix_rt::net::TcpStream| {
                let peer = io.peer_addr().ok();
                ready(Ok((JsonErrors::new(io), peer)))
            })
            .and_then(http)
        })?
        .run())
}

/// The answers actix-http writes itself, with an empty body, when a request cannot reach
/// the app: a head it cannot parse (400), too large (431) or too slow (408).
const FRAMEWORK_ERRORS: &[(&[u8], ErrorCode, &str)] = &[
    (
        b"HTTP/1.1 400 Bad Request\r\n",
        ErrorCode::BadRequest,
        "the request could not be parsed as HTTP/1.1",
    ),
    (
        b"HTTP/1.1 408 Request Timeout\r\n",
        ErrorCode::RequestTimeout,
        "the request head did not arrive in time",
    ),
    (
        b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
        ErrorCode::HeadersTooLarge,
        "the request head is larger than the server accepts",
    ),
    (
        b"HTTP/1.1 413 Payload Too Large\r\n",
        ErrorCode::PayloadTooLarge,
        "the body is larger than the server accepts",
    ),
];

const EMPTY_BODY: &[u8] = b"content-length: 0\r\n";

/// A connection whose outgoing bytes get a JSON body on the framework's bare error heads.
/// Levy's own answers always carry a body, and a JSON body never holds a raw CRLF, so a
/// listed status line with `content-length: 0` can only come from the framework.
pub struct JsonErrors<IO> {
    io: IO,
    /// Rewritten bytes not yet accepted by the socket.
    pending: Vec<u8>,
    written: usize,
}

impl<IO> JsonErrors<IO> {
    pub fn new(io: IO) -> Self {
        JsonErrors {
            io,
            pending: Vec::new(),
            written: 0,
        }
    }
}

/// `buf` with the framework's error head given a JSON body, or None when it has none.
///
/// Such a head is always the last thing written on a connection (the framework closes it
/// after), so only the end of `buf` is looked at: the check costs the same for a 30 MB
/// response written in many parts as for a small one.
fn rewrite(buf: &[u8]) -> Option<Vec<u8>> {
    if !buf.ends_with(b"\r\n\r\n") {
        return None;
    }
    let tail_start = buf.len().saturating_sub(512);
    let at = tail_start + memchr::memmem::rfind(&buf[tail_start..], b"HTTP/1.1 4")?;
    let head = &buf[at..];
    let &(line, code, message) = FRAMEWORK_ERRORS
        .iter()
        .find(|(line, _, _)| head.starts_with(line))?;
    let cl = memchr::memmem::find(head, EMPTY_BODY)?;
    // The head is one head: no blank line before its end.
    if memchr::memmem::find(head, b"\r\n\r\n")? != head.len() - 4 {
        return None;
    }
    let body = LevyError::new(code, message).body().to_string();
    let mut out = Vec::with_capacity(buf.len() + body.len() + 64);
    out.extend_from_slice(&buf[..at]);
    out.extend_from_slice(line);
    out.extend_from_slice(&head[line.len()..cl]);
    out.extend_from_slice(b"content-type: application/json\r\n");
    out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    out.extend_from_slice(&head[cl + EMPTY_BODY.len()..]);
    out.extend_from_slice(body.as_bytes());
    Some(out)
}

impl<IO: AsyncWrite + Unpin> JsonErrors<IO> {
    /// Writes what was rewritten earlier; Ready once nothing is left.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.pending[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.pending.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for JsonErrors<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for JsonErrors<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.drain(cx))?;
        match rewrite(buf) {
            None => Pin::new(&mut this.io).poll_write(cx, buf),
            Some(rewritten) => {
                this.pending = rewritten;
                // Accepted whole; what the socket does not take now goes out on flush.
                if let Poll::Ready(Err(e)) = this.drain(cx) {
                    return Poll::Ready(Err(e));
                }
                Poll::Ready(Ok(buf.len()))
            }
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framework_heads_get_a_json_body_and_everything_else_passes() {
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
        assert!(rewrite(ok).is_none());
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 9\r\n\r\n{\"a\":123}";
        assert!(rewrite(ours).is_none());
        let bare = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
        let out = String::from_utf8(rewrite(bare).unwrap()).unwrap();
        let (first, rest) = out.split_at(out.find("HTTP/1.1 431").unwrap());
        assert_eq!(first, "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}");
        let (head, body) = rest.split_once("\r\n\r\n").unwrap();
        assert!(head.contains("content-type: application/json"));
        assert!(head.contains("connection: close"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"]["code"], "headers_too_large");
    }
}
