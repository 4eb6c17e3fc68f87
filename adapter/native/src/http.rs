//! The adapter's compiled HTTP-mode transport: Envoy's ext_authz HTTP service (the checked request, as-is) served
//! over HTTP/1.1, or HTTP/2 with prior knowledge, by hyper on one tokio thread, each request's fields handed to
//! Python callables.
//!
//! Why it exists: as for gRPC (grpc.rs), the Python server's own per-request work (aiohttp's parser, request and
//! response objects, its event-loop round) is most of a warm check's server CPU; measured in bench/README.md.
//!
//! What it serves, and how:
//! - HTTP/1.1 with keep-alive (Envoy's ext_authz HTTP client speaks HTTP/1.1 to the authorization cluster unless
//!   the cluster is configured for HTTP/2; Istio's `envoyExtAuthzHttp` provider does not), any method and path;
//! - HTTP/2 with prior knowledge (h2c, a connection that starts with HTTP/2's preface), which is what Envoy speaks
//!   to a cluster configured for HTTP/2: istiod configures the provider's cluster so under a mesh-wide
//!   `h2UpgradePolicy: UPGRADE` (istio/istio pilot/pkg/networking/core/cluster_traffic_policy.go, shouldH2Upgrade)
//!   unless a DestinationRule says DO_NOT_UPGRADE for the port. Header list bounded by `max_head_bytes` as well
//!   (h2 refuses a larger one), at most 200 checks in flight on one connection (hyper's default);
//! - a request head (request line and headers) over `max_head_bytes`, or with more than 100 headers (hyper's
//!   default; Envoy forwards at most its own `max_headers_count`, 100 by default), gets 431 and the connection is
//!   closed; a body is read to its end, and kept up to `max_kept_body` for `whole` (a longer one is dropped as it
//!   arrives, and `whole` gets None);
//! - a connection that has not said which protocol it speaks within `HANDSHAKE_TIMEOUT` is closed; an HTTP/1.1
//!   connection idle, or in the middle of a request head, for `IDLE_TIMEOUT` is closed (as aiohttp's keep-alive
//!   timeout, 75 s, did);
//! - stop: idle connections close at once, a request in flight finishes within the grace period.
//!
//! A request is answered by `warm(credential, method, path, host, user_agent, request_id, forwarded, external,
//! peer)` (the fields `reader.rs` reads of a gRPC check: the SHA-256 of the Authorization header or None, the
//! request's method, path with its query, Host, User-Agent, X-Request-Id, X-Forwarded-For,
//! X-Envoy-External-Address, the peer's address) when it returns a response, else by `whole(fields, headers, body,
//! reply)` with the same fields as a tuple, every header (`dict[str, str]`, lower-case names, repeated headers
//! joined with ",") and the body (bytes, or None past `max_kept_body`). Either returns `(status, headers, body)`, or
//! `whole` returns None and completes `reply` from another thread (`Reply.respond`). Both run on this thread,
//! holding the GIL: answers from memory belong here; what waits on I/O must be handed off, or every connection
//! waits with it.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString, PyTuple};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::serving::{outcome_of, Listening, Outcome, Reply, Stopping, HANDSHAKE_TIMEOUT};

/// How long a connection may sit idle, or take to send a request head, before it is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(75);

struct Shared {
    warm: Option<Py<PyAny>>,
    whole: Py<PyAny>,
    max_head_bytes: usize,
    max_kept_body: usize,
}

/// What a connection speaking HTTP/2 with prior knowledge sends first (RFC 9113, section 3.4).
const HTTP2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// An HTTP/1.1 and HTTP/2 (prior knowledge) server on `host:port` (port 0: any free one, see `port`), bound at
/// construction (see `Listening`).
#[pyclass(frozen, module = "apim_adapter_native")]
pub struct HttpServer {
    shared: Arc<Shared>,
    listening: Listening,
}

#[pymethods]
impl HttpServer {
    /// `warm`: None to send every request to `whole`; `max_kept_body`: the longest body `whole` is given (a
    /// longer one is read and dropped, and `whole` gets None); `keepalive_seconds`: idle seconds before TCP
    /// keepalive probes a connection (0: none).
    #[new]
    #[pyo3(signature = (
        host, port, whole, warm = None, max_head_bytes = 65536, keepalive_seconds = 300, max_kept_body = 4 << 20
    ))]
    fn new(
        host: &str,
        port: u16,
        whole: Py<PyAny>,
        warm: Option<Py<PyAny>>,
        max_head_bytes: usize,
        keepalive_seconds: u64,
        max_kept_body: usize,
    ) -> PyResult<Self> {
        Ok(HttpServer {
            shared: Arc::new(Shared { warm, whole, max_head_bytes, max_kept_body }),
            listening: Listening::bind(host, port, keepalive_seconds)?,
        })
    }

    #[getter]
    fn port(&self) -> u16 {
        self.listening.port
    }

    /// Serve on a thread of its own until `stop`.
    fn start(&self) -> PyResult<()> {
        let shared = self.shared.clone();
        self.listening.start("http-server", move |socket, peer, stopping| {
            serve_connection(socket, peer, shared.clone(), stopping)
        })
    }

    /// Stop taking connections, close the idle ones, let requests in flight finish for up to `grace_seconds`,
    /// then end. Blocks until the server's thread has ended; idempotent.
    fn stop(&self, py: Python<'_>, grace_seconds: f64) {
        self.listening.stop(py, grace_seconds)
    }
}

async fn serve_connection(socket: TcpStream, peer: SocketAddr, shared: Arc<Shared>, stopping: Stopping) {
    let peer: Arc<str> = peer.ip().to_string().into();
    let max_head_bytes = shared.max_head_bytes;
    let service = service_fn(move |request| {
        let (shared, peer) = (shared.clone(), peer.clone());
        async move { Ok::<_, Infallible>(answer(request, &peer, &shared).await) }
    });
    let Ok(Ok((http2, socket))) = tokio::time::timeout(HANDSHAKE_TIMEOUT, Replayed::first_bytes(socket)).await else {
        return;
    };
    let io = TokioIo::new(socket);
    if http2 {
        let mut builder = http2::Builder::new(TokioExecutor::new());
        builder.timer(TokioTimer::new()).max_header_list_size(u32::try_from(max_head_bytes).unwrap_or(u32::MAX));
        let connection = builder.serve_connection(io, service);
        until_stopped(connection, stopping, http2::Connection::graceful_shutdown).await
    } else {
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(IDLE_TIMEOUT)
            .max_header_size(max_head_bytes)
            // The read buffer must hold a whole head, or hyper refuses it before the header limit applies.
            .max_buf_size(max_head_bytes.saturating_add(16 << 10));
        let connection = builder.serve_connection(io, service);
        until_stopped(connection, stopping, http1::Connection::graceful_shutdown).await
    }
}

/// Serve `connection` until it ends; once the server stops, shut it down gracefully (requests in flight finish,
/// no new ones are taken) and serve what remains.
async fn until_stopped<C: Future>(connection: C, mut stopping: Stopping, graceful_shutdown: fn(Pin<&mut C>)) {
    tokio::pin!(connection);
    if stopping.borrow().is_some() {
        graceful_shutdown(connection.as_mut());
    } else {
        tokio::select! {
            _ = connection.as_mut() => return,
            _ = stopping.changed() => graceful_shutdown(connection.as_mut()),
        }
    }
    let _ = connection.await;
}

/// A connection whose first bytes were read to tell HTTP/2 from HTTP/1.1, and are read again by the protocol.
struct Replayed {
    first: Vec<u8>,
    replayed: usize,
    socket: TcpStream,
}

impl Replayed {
    /// Read until the bytes are HTTP/2's preface or cannot be (HTTP/1.1), or the connection ends: whether it is
    /// HTTP/2, and the connection with those bytes to read again.
    async fn first_bytes(mut socket: TcpStream) -> io::Result<(bool, Self)> {
        let mut first = Vec::with_capacity(4096);
        while first.len() < HTTP2_PREFACE.len() && HTTP2_PREFACE.starts_with(&first) {
            if socket.read_buf(&mut first).await? == 0 {
                break;
            }
        }
        let http2 = first.starts_with(HTTP2_PREFACE);
        Ok((http2, Replayed { first, replayed: 0, socket }))
    }
}

impl AsyncRead for Replayed {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let unread = &this.first[this.replayed..];
        if unread.is_empty() {
            return Pin::new(&mut this.socket).poll_read(cx, buf);
        }
        let n = unread.len().min(buf.remaining());
        buf.put_slice(&unread[..n]);
        this.replayed += n;
        if this.replayed == this.first.len() {
            this.first = Vec::new();
            this.replayed = 0;
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Replayed {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.socket).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.socket).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.socket.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.socket).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.socket).poll_shutdown(cx)
    }
}

async fn answer(request: Request<Incoming>, peer: &str, shared: &Shared) -> Response<Full<Bytes>> {
    let (head, mut body) = request.into_parts();
    // Kept up to `max_kept_body` for `whole` (a Regex Policy searches it; Envoy sends one only with
    // `with_request_body`, bounded by its `max_request_bytes`), dropped as it arrives past that.
    // Its frames are kept as they came (no copy unless `whole` takes them).
    let mut kept: Option<Vec<Bytes>> = Some(Vec::new());
    let mut length = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return plain(StatusCode::BAD_REQUEST, "the request's body broke");
        };
        if let Ok(data) = frame.into_data() {
            length = length.saturating_add(data.len());
            match kept.as_mut() {
                Some(frames) if length <= shared.max_kept_body => frames.push(data),
                _ => kept = None,
            }
        }
    }
    let (reply, completed) = Reply::new();
    let answered = Python::with_gil(|py| {
        let fields = fields_of(py, &head, peer);
        if let Some(warm) = &shared.warm {
            match warm.call1(py, fields.clone()).and_then(|result| outcome_of(result.bind(py))) {
                Ok(Some(outcome)) => return Some(outcome),
                Ok(None) => {}
                Err(error) => return Some(crashed(py, error, warm)),
            }
        }
        let headers = headers_of(py, &head.headers);
        let body = kept.as_deref().map(|frames| PyBytes::new(py, &frames.concat()));
        match shared.whole.call1(py, (fields, headers, body, reply)).and_then(|result| outcome_of(result.bind(py))) {
            Ok(outcome) => outcome,
            Err(error) => Some(crashed(py, error, &shared.whole)),
        }
    });
    // What `whole` keeps of the body, it holds itself.
    drop(kept);
    // A request whose client went away is dropped here by hyper, with its reply: a check still queued for it is
    // then not run (`Reply.pending`).
    let outcome = match answered {
        Some(outcome) => outcome,
        None => completed.await.unwrap_or(Outcome::Status(500, "no reply".into())),
    };
    response_of(outcome)
}

fn crashed(py: Python<'_>, error: PyErr, method: &Py<PyAny>) -> Outcome {
    error.write_unraisable(py, Some(method.bind(py)));
    Outcome::Status(500, "internal error".into())
}

/// credential, method, path, host, user agent, request id, x-forwarded-for, x-envoy-external-address, peer.
fn fields_of<'py>(py: Python<'py>, head: &http::request::Parts, peer: &str) -> Bound<'py, PyTuple> {
    let headers = &head.headers;
    let header = |name: &str| decoded(py, headers.get(name).map_or(b"".as_slice(), HeaderValue::as_bytes));
    let credential = headers
        .get(AUTHORIZATION)
        .filter(|value| !value.is_empty())
        .map(|value| PyBytes::new(py, &Sha256::digest(value.as_bytes())));
    let path = head.uri.path_and_query().map_or("/", |path| path.as_str());
    // HTTP/2 carries the host as :authority (hyper puts it in the URI), HTTP/1.1 as the Host header.
    let host = match (headers.get("host"), head.uri.authority()) {
        (None, Some(authority)) => PyString::new(py, authority.as_str()).into_any(),
        _ => header("host"),
    };
    let fields = [
        credential.map_or_else(|| py.None().into_bound(py), Bound::into_any),
        PyString::new(py, head.method.as_str()).into_any(),
        PyString::new(py, path).into_any(),
        host,
        header("user-agent"),
        header("x-request-id"),
        header("x-forwarded-for"),
        header("x-envoy-external-address"),
        PyString::new(py, peer).into_any(),
    ];
    PyTuple::new(py, fields).expect("nine fields")
}

/// Every header as text, names lower-case (as hyper gives them), repeated ones joined with "," (as Envoy joins
/// them in a gRPC check's header map).
fn headers_of<'py>(py: Python<'py>, headers: &HeaderMap) -> Bound<'py, PyDict> {
    let all = PyDict::new(py);
    for name in headers.keys() {
        let mut values = headers.get_all(name).iter();
        let first = values.next().map_or(b"".as_slice(), HeaderValue::as_bytes);
        let value = match values.next() {
            None => decoded(py, first),
            Some(second) => {
                let mut joined = [first, second.as_bytes()].join(b",".as_slice());
                for more in values {
                    joined.push(b',');
                    joined.extend_from_slice(more.as_bytes());
                }
                decoded(py, &joined)
            }
        };
        let _ = all.set_item(name.as_str(), value);
    }
    all
}

/// A header's bytes as a Python string: UTF-8, or its bytes kept as surrogates (as aiohttp and Python's own
/// HTTP servers decode them), so that the Authorization header hashes to the same credential either way.
fn decoded<'py>(py: Python<'py>, bytes: &[u8]) -> Bound<'py, PyAny> {
    match std::str::from_utf8(bytes) {
        Ok(text) => PyString::new(py, text).into_any(),
        Err(_) => PyBytes::new(py, bytes)
            .call_method1("decode", ("utf-8", "surrogateescape"))
            .unwrap_or_else(|_| PyString::new(py, "").into_any()),
    }
}

fn response_of(outcome: Outcome) -> Response<Full<Bytes>> {
    match outcome {
        Outcome::Message(body) => Response::new(Full::new(body.into())),
        Outcome::Status(status, message) => {
            plain(StatusCode::from_u16(status as u16).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), &message)
        }
        Outcome::Response(status, headers, body) => {
            let mut response = Response::new(Full::new(body.into()));
            *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let into = response.headers_mut();
            for (name, value) in headers {
                // The renderer writes only valid headers; one that is not would break the response: left out.
                if let (Ok(name), Ok(value)) =
                    (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_bytes(value.as_bytes()))
                {
                    into.append(name, value);
                }
            }
            response
        }
    }
}

fn plain(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::copy_from_slice(message.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}
