//! The adapter's compiled gRPC transport: HTTP/2 (the h2 crate) and gRPC's framing on one tokio thread, each
//! call's message handed to a Python callable as bytes.
//!
//! Why it exists: behind Envoy, grpc-python's own per-call work (its completion queue, a thread hand-off, its
//! Python-level call objects) is most of a warm check's server CPU; measured in bench/README.md ("Where the rest of
//! the cost is"). Here a call costs the Python callable and a few µs of Rust.
//!
//! What it serves, and how (gRPC over HTTP/2: grpc/grpc `doc/PROTOCOL-HTTP2.md`):
//! - unary calls to the paths the adapter registered (`methods`), server-streaming calls whose answer is a
//!   state that changes (`streams`: grpc.health.v1's Watch), and client-streaming calls whose every message is
//!   handed on and whose answer is empty (`ingests`: Envoy's access log service, StreamAccessLogs); any other path
//!   gets UNIMPLEMENTED, as grpc-core answers an unknown method;
//! - one request message per unary or server-streaming call, any number per client-streaming one, uncompressed
//!   (Envoy's gRPC clients do not compress); a compressed message gets UNIMPLEMENTED, a message over
//!   `max_message_bytes` RESOURCE_EXHAUSTED, broken framing INTERNAL;
//! - a call's `grpc-timeout` bounds a reply that is completed later (`Reply`), and a stream: DEADLINE_EXCEEDED
//!   when it passes; a call the caller resets is dropped, and the work queued for it skipped;
//! - at most 1,000 calls open at once on a connection (`MAX_CALLS_PER_CONNECTION`), more refused;
//! - at most `max_streams` streams (of either kind) open at once (a stream lasts as long as its caller wants):
//!   beyond that RESOURCE_EXHAUSTED; a stream its caller resets frees its place at once;
//! - stop: GOAWAY on every connection, unary calls in flight finish within the grace period, then the thread ends;
//!   a server stream sends its method's answer for a stopping server, then ends with UNAVAILABLE at once; a client
//!   stream ends with UNAVAILABLE at once, every message it sent before handed on (`stop` waits for them).
//!
//! A Python method is called as `method(message: bytes, metadata: dict[str, str] | None, reply: Reply)` and returns
//! the response message (bytes), a `(code, message)` status, or None when it has handed `reply` to another thread
//! that completes the call (`Reply.send` / `Reply.fail`). A streaming method is called as `method(message: bytes,
//! metadata: dict[str, str] | None, stopping: bool)` and returns the stream's current message (bytes), or a
//! `(code, message)` status that ends the stream; it is called when the stream opens, again after each `notify`
//! (what it answers may have changed), and once more with `stopping` True when the server stops. Both run on this
//! thread, holding the GIL: answers from memory belong here; what waits on I/O must be handed off, or every
//! connection waits with it.
//!
//! A client-streaming method is called as `method(message: bytes)`, once per message, in the order of its stream,
//! on a thread of its own (`grpc-ingest`, shared by every client stream), never on the connections' thread: what
//! it does with a message (read and write an access log's entries) takes the time it takes without holding up a
//! check. Between the two, at most `ingest_queue` messages wait; when that many do, a stream's messages stay
//! unread, HTTP/2's flow control holds its sender back (Envoy's access logger then drops entries and counts them,
//! its stream over its buffer limit), and no message is lost nor kept beyond the bound.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use h2::server::SendResponse;
use h2::RecvStream;
use http::{HeaderMap, HeaderValue, Request, Response};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::serving::{outcome_of, Listening, Outcome, Reply, Stopping, HANDSHAKE_TIMEOUT};

// gRPC status codes (grpc/grpc doc/statuscodes.md).
const UNKNOWN: u32 = 2;
const DEADLINE_EXCEEDED: u32 = 4;
const RESOURCE_EXHAUSTED: u32 = 8;
const UNIMPLEMENTED: u32 = 12;
const INTERNAL: u32 = 13;
const UNAVAILABLE: u32 = 14;

/// The length-prefixed message framing: a compressed flag and a four-byte length.
const PREFIX: usize = 5;

/// Calls open at once on one connection (HTTP/2's SETTINGS_MAX_CONCURRENT_STREAMS); more are refused
/// (REFUSED_STREAM), and a gateway that needs more opens another connection. A call stays open until its answer is
/// sent, and h2 keeps an answer its peer's flow control holds back (`send_data` buffers whatever the window): without
/// a bound, a client that never opens its window could have the server keep any number of answers.
const MAX_CALLS_PER_CONNECTION: u32 = 1000;

/// A client stream's message on its way to its method (`ingests`, by its index there).
type Ingested = (usize, Bytes);
/// The client-streaming methods, by index, and the queue of their messages: the `grpc-ingest` thread's.
type Ingesting = (Vec<Py<PyAny>>, mpsc::Receiver<Ingested>);

struct Shared {
    methods: HashMap<String, Py<PyAny>>,
    streams: HashMap<String, Py<PyAny>>,
    /// The client-streaming paths, each the index of its method in the `grpc-ingest` thread's list.
    ingests: HashMap<String, usize>,
    /// Where client streams hand their messages: taken at `stop`, after which none is taken.
    ingesting: Mutex<Option<mpsc::Sender<Ingested>>>,
    max_message_bytes: usize,
    with_metadata: bool,
    /// A permit per open stream, `max_streams` in all.
    open_streams: Arc<Semaphore>,
    max_streams: usize,
    /// Sent to by `notify`: each open stream calls its method again.
    changed: watch::Sender<()>,
    /// Writes to the connections' sockets so far (`socket_writes`).
    socket_writes: AtomicU64,
}

/// A gRPC server on `host:port` (port 0: any free one, see `port`), bound at construction (see `Listening`).
#[pyclass(frozen, module = "apim_adapter_native")]
pub struct GrpcServer {
    shared: Arc<Shared>,
    listening: Listening,
    /// The client-streaming methods and their queue until `start` hands them to the `grpc-ingest` thread.
    ingest_methods: Mutex<Option<Ingesting>>,
    ingest_thread: Mutex<Option<JoinHandle<()>>>,
}

#[pymethods]
impl GrpcServer {
    /// `methods`: full method path (`/package.Service/Method`) to its callable; `metadata`: hand each call's
    /// metadata to its method (for trace context), else None; `keepalive_seconds`: idle seconds before TCP
    /// keepalive probes a connection (0: none); `streams`: the server-streaming methods, by path as `methods`;
    /// `max_streams`: how many streams may be open at once; `ingests`: the client-streaming methods, by path;
    /// `ingest_queue`: how many of their messages may wait for the `grpc-ingest` thread.
    #[new]
    #[pyo3(signature = (
        host, port, methods, max_message_bytes = 4 << 20, metadata = false, keepalive_seconds = 300, streams = None,
        max_streams = 100, ingests = None, ingest_queue = 16
    ))]
    #[allow(clippy::too_many_arguments)] // Python's keyword arguments
    fn new(
        host: &str,
        port: u16,
        methods: HashMap<String, Py<PyAny>>,
        max_message_bytes: usize,
        metadata: bool,
        keepalive_seconds: u64,
        streams: Option<HashMap<String, Py<PyAny>>>,
        max_streams: usize,
        ingests: Option<HashMap<String, Py<PyAny>>>,
        ingest_queue: usize,
    ) -> PyResult<Self> {
        let (paths, ingest_methods): (HashMap<String, usize>, Vec<Py<PyAny>>) =
            ingests.unwrap_or_default().into_iter().enumerate().map(|(i, (path, method))| ((path, i), method)).unzip();
        let (sender, receiver) = mpsc::channel(ingest_queue.max(1));
        let shared = Shared {
            methods,
            streams: streams.unwrap_or_default(),
            ingests: paths,
            ingesting: Mutex::new(Some(sender)),
            max_message_bytes,
            with_metadata: metadata,
            open_streams: Arc::new(Semaphore::new(max_streams.min(Semaphore::MAX_PERMITS))),
            max_streams,
            changed: watch::Sender::new(()),
            socket_writes: AtomicU64::new(0),
        };
        Ok(GrpcServer {
            shared: Arc::new(shared),
            listening: Listening::bind(host, port, keepalive_seconds)?,
            ingest_methods: Mutex::new((!ingest_methods.is_empty()).then_some((ingest_methods, receiver))),
            ingest_thread: Mutex::new(None),
        })
    }

    #[getter]
    fn port(&self) -> u16 {
        self.listening.port
    }

    /// How many writes the server has made to its connections' sockets since it was made: against the calls it
    /// answered, how well it gathers what it sends (`Gathering`). A count of the server's own writes (one being
    /// made included), which the kernel may merge into fewer TCP segments, or not, as its timing goes.
    #[getter]
    fn socket_writes(&self) -> u64 {
        self.shared.socket_writes.load(Ordering::Relaxed)
    }

    /// Serve on a thread of its own until `stop` (and the client-streaming methods on another).
    fn start(&self) -> PyResult<()> {
        let shared = self.shared.clone();
        self.listening
            .start("grpc-server", move |socket, _, stopping| serve_connection(socket, shared.clone(), stopping))?;
        let ingesting = self.ingest_methods.lock().map(|mut held| held.take()).unwrap_or(None);
        if let Some((methods, receiver)) = ingesting {
            let thread = std::thread::Builder::new().name("grpc-ingest".into()).spawn(move || {
                // One Python thread state for the thread's life, as the serving thread keeps (serving.rs).
                Python::with_gil(|py| py.allow_threads(|| hand_on(receiver, &methods)))
            })?;
            if let Ok(mut held) = self.ingest_thread.lock() {
                *held = Some(thread);
            }
        }
        Ok(())
    }

    /// Stop taking connections, send GOAWAY on each, end the streams (`stream`, `ingest`), let unary calls in
    /// flight finish for up to `grace_seconds`, then end (calls still open then are reset). Blocks until the
    /// server's thread has ended and every client stream's message received has been handed on; idempotent.
    fn stop(&self, py: Python<'_>, grace_seconds: f64) {
        self.listening.stop(py, grace_seconds);
        // The connections are gone and their streams' senders with them: once this one goes, the queue ends.
        drop(self.shared.ingesting.lock().map(|mut held| held.take()));
        let thread = self.ingest_thread.lock().map(|mut held| held.take()).unwrap_or(None);
        if let Some(thread) = thread {
            let _ = py.allow_threads(move || thread.join()); // it needs the GIL for the messages left
        }
    }

    /// What the streaming methods answer may have changed (the adapter's health did): each open stream calls its
    /// method again, and sends the answer if it differs from the last it sent. From any thread, at any time.
    fn notify(&self) {
        self.shared.changed.send_replace(());
    }
}

async fn serve_connection(socket: TcpStream, shared: Arc<Shared>, mut stopping: Stopping) {
    // A call's metadata from Envoy is a few hundred bytes; grpc-core refuses more than 16 KiB by default. A peer
    // that connects and never speaks HTTP/2 is let go, as grpc-core's handshake timeout does.
    let (reading, writing) = socket.into_split();
    let outgoing = Arc::new(Mutex::new(Outgoing::new(writing, shared.clone())));
    let socket = Gathering { reading, outgoing: outgoing.clone() };
    let handshake = h2::server::Builder::new()
        .max_header_list_size(64 << 10)
        .max_concurrent_streams(MAX_CALLS_PER_CONNECTION)
        .handshake(socket);
    let Ok(Ok(mut connection)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await else { return };
    outgoing.lock().unwrap().by_turn = true;
    let mut closing = stopping.borrow().is_some();
    if closing {
        connection.graceful_shutdown();
    }
    let mut calls = JoinSet::new();
    loop {
        tokio::select! {
            // Polling accept also drives the connection: frames of the calls in flight are written from here, and
            // go out once h2 is done for the turn (`Outgoing`).
            next = std::future::poll_fn(|cx| {
                let next = connection.poll_accept(cx);
                if next.is_pending() {
                    let _ = outgoing.lock().unwrap().poll_send(cx); // a failure is h2's at its next write
                }
                next
            }) => match next {
                Some(Ok((request, respond))) => {
                    let path = request.uri().path();
                    let streaming = shared.streams.contains_key(path);
                    if streaming || shared.ingests.contains_key(path) {
                        match stream_place(&shared) {
                            Err(refused) => trailers_only(respond, refused),
                            Ok(place) if streaming => {
                                calls.spawn(stream(request, respond, shared.clone(), stopping.clone(), place));
                            }
                            Ok(place) => {
                                calls.spawn(ingest(request, respond, shared.clone(), stopping.clone(), place));
                            }
                        }
                    } else {
                        calls.spawn(call(request, respond, shared.clone()));
                    }
                }
                Some(Err(_)) | None => break, // closed, or after GOAWAY once no call is left
            },
            Some(_) = calls.join_next(), if !calls.is_empty() => {}
            changed = stopping.changed(), if !closing => {
                closing = true;
                if changed.is_err() || stopping.borrow().is_some() {
                    connection.graceful_shutdown();
                }
            },
        }
    }
}

async fn call(request: Request<RecvStream>, mut respond: SendResponse<Bytes>, shared: Arc<Shared>) {
    // A call the caller resets (Envoy cancels a check whose timeout passed) is dropped with its reply: a check
    // still queued for it is then not run (`Reply.pending`).
    let outcome = tokio::select! {
        outcome = answer(request, &shared) => outcome,
        _ = std::future::poll_fn(|cx| respond.poll_reset(cx)) => return,
    };
    let (code, message) = match outcome {
        Outcome::Message(message) => return answer_ok(respond, &message),
        Outcome::Status(code, message) => (code, message),
        Outcome::Response(..) => (INTERNAL, "an HTTP response from a gRPC method".into()),
    };
    trailers_only(respond, (code, message));
}

/// A server-streaming call whose answer is a state (grpc.health.v1's Watch, grpc/grpc `doc/health-checking.md`):
/// the method's answer at once, then a message each time it differs from the last one sent, re-asked after each
/// `notify`. The stream stays open until its caller resets it, its deadline passes, the method answers a status,
/// or the server stops.
async fn stream(
    request: Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    shared: Arc<Shared>,
    mut stopping: Stopping,
    _place: OwnedSemaphorePermit,
) {
    // Subscribed before the method is first asked: a `notify` from then on has it asked again, none is missed.
    let mut changes = shared.changed.subscribe();
    let (head, mut body) = request.into_parts();
    let method = &shared.streams[head.uri.path()]; // routed here for this path (`serve_connection`)
    let expiry = expiry(&head.headers);
    tokio::pin!(expiry);
    let frame = tokio::select! {
        frame = request_frame(&mut body, &shared) => frame,
        _ = std::future::poll_fn(|cx| respond.poll_reset(cx)) => return,
        () = &mut expiry => Err((DEADLINE_EXCEEDED, "deadline exceeded".into())),
    };
    let frame = match frame {
        Ok(frame) => frame,
        Err(refused) => return trailers_only(respond, refused),
    };
    let message = match message_of(&frame) {
        Ok(message) => message,
        Err(refused) => return trailers_only(respond, refused),
    };
    let mut stopped = stopping.borrow().is_some();
    let mut last = match current(method, message, &head.headers, &shared, stopped) {
        Ok(answer) => answer,
        Err(status) => return trailers_only(respond, status),
    };
    let Ok(mut sent) = respond.send_response(grpc_response(), false) else { return };
    // Unbounded by flow control (h2 queues what the window does not take), but a message goes only when the
    // answer changed, and the adapter's health changes a few times in its life.
    if sent.send_data(framed(&last), false).is_err() {
        return;
    }
    let (code, reason) = loop {
        if stopped {
            // A stream never ends by itself: left open, it would hold its connection, and the stop, for the whole
            // grace period. It ends at once, its last message the method's answer for a stopping server (the
            // health service's: NOT_SERVING, as grpcio-health-checking's `enter_graceful_shutdown` sets it).
            break (UNAVAILABLE, "stopping".to_owned());
        }
        tokio::select! {
            _ = std::future::poll_fn(|cx| sent.poll_reset(cx)) => return,
            () = &mut expiry => break (DEADLINE_EXCEEDED, "deadline exceeded".to_owned()),
            Ok(()) = changes.changed() => {}
            changed = stopping.changed() => stopped = changed.is_err() || stopping.borrow().is_some(),
        }
        match current(method, message, &head.headers, &shared, stopped) {
            // Only a change is sent (doc/health-checking.md: "a new message whenever the service's serving status
            // changes"); grpcio's HealthServicer.set sends one on every set, unchanged or not.
            Ok(answer) if answer != last => {
                if sent.send_data(framed(&answer), false).is_err() {
                    return;
                }
                last = answer;
            }
            Ok(_) => {}
            Err(status) => break status,
        }
    };
    let mut trailers = HeaderMap::new();
    insert_status(&mut trailers, code, &reason);
    let _ = sent.send_trailers(trailers);
}

/// A client-streaming call (Envoy's StreamAccessLogs): each message, as it completes, queued for its method on
/// the `grpc-ingest` thread; the answer, an empty message, once the caller ends its stream. The stream stays open
/// until then, or until its caller resets it, its deadline passes, or the server stops (UNAVAILABLE). HTTP/2's
/// flow control gives the caller room for more only once the messages it sent are queued.
async fn ingest(
    request: Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    shared: Arc<Shared>,
    mut stopping: Stopping,
    _place: OwnedSemaphorePermit, // one of `max_streams` (`stream_place`), held while the stream lasts
) {
    let sender = shared.ingesting.lock().map(|held| held.clone()).unwrap_or(None);
    let Some(sender) = sender.filter(|_| stopping.borrow().is_none()) else {
        return trailers_only(respond, (UNAVAILABLE, "stopping".into()));
    };
    let (head, mut body) = request.into_parts();
    let index = shared.ingests[head.uri.path()]; // routed here for this path (`serve_connection`)
    let expiry = expiry(&head.headers);
    tokio::pin!(expiry);
    let mut unread = BytesMut::new(); // the start of a message whose end has not arrived
    let ended = 'stream: loop {
        let chunk = tokio::select! {
            chunk = body.data() => chunk,
            _ = std::future::poll_fn(|cx| respond.poll_reset(cx)) => return,
            () = &mut expiry => break (DEADLINE_EXCEEDED, "deadline exceeded".to_owned()),
            changed = stopping.changed() => {
                if changed.is_err() || stopping.borrow().is_some() {
                    break (UNAVAILABLE, "stopping".to_owned());
                }
                continue;
            }
        };
        let Some(chunk) = chunk else {
            if unread.is_empty() {
                break (0, String::new());
            }
            break broken_framing(); // the stream ended inside a message
        };
        let Ok(chunk) = chunk else { return }; // the caller is gone
        let received = chunk.len();
        unread.extend_from_slice(&chunk);
        loop {
            match next_message(&mut unread, shared.max_message_bytes) {
                Ok(Some(message)) => {
                    if sender.send((index, message)).await.is_err() {
                        break 'stream (UNAVAILABLE, "stopping".to_owned());
                    }
                }
                Ok(None) => break,
                Err(refused) => break 'stream refused,
            }
        }
        let _ = body.flow_control().release_capacity(received);
    };
    if ended.0 != 0 {
        return trailers_only(respond, ended);
    }
    answer_ok(respond, &[]);
}

/// The `grpc-ingest` thread: each queued message to its method, in order, until the queue ends (`stop`); the GIL
/// taken once for the messages waiting together.
fn hand_on(mut queue: mpsc::Receiver<Ingested>, methods: &[Py<PyAny>]) {
    while let Some(first) = queue.blocking_recv() {
        Python::with_gil(|py| {
            let mut next = Some(first);
            while let Some((index, message)) = next {
                let method = &methods[index];
                if let Err(error) = method.call1(py, (PyBytes::new(py, &message),)) {
                    error.write_unraisable(py, Some(method.bind(py)));
                }
                next = queue.try_recv().ok();
            }
        });
    }
}

/// A streaming method's answer now: its message, or the status that ends the stream.
fn current(
    method: &Py<PyAny>,
    message: &[u8],
    headers: &HeaderMap,
    shared: &Shared,
    stopping: bool,
) -> Result<Vec<u8>, (u32, String)> {
    Python::with_gil(|py| {
        let metadata = if shared.with_metadata { Some(metadata_of(py, headers)) } else { None };
        let result = method.call1(py, (PyBytes::new(py, message), metadata, stopping));
        match result.and_then(|result| outcome_of(result.bind(py))) {
            Ok(Some(Outcome::Message(answer))) => Ok(answer),
            Ok(Some(Outcome::Status(code, reason))) => Err((code, reason)),
            Ok(Some(Outcome::Response(..))) => Err((INTERNAL, "an HTTP response from a gRPC method".into())),
            Ok(None) => Err((INTERNAL, "no answer from a streaming method".into())),
            Err(error) => {
                error.write_unraisable(py, Some(method.bind(py)));
                Err((UNKNOWN, "the method failed".into()))
            }
        }
    })
}

/// One of `max_streams` places for a stream (of either kind), which lasts as long as its caller wants; given back
/// however the call ends (its task ends, or the connection's task drops it).
fn stream_place(shared: &Shared) -> Result<OwnedSemaphorePermit, (u32, String)> {
    shared.open_streams.clone().try_acquire_owned().map_err(|_| {
        let limit = shared.max_streams;
        (RESOURCE_EXHAUSTED, format!("more than {limit} streams open"))
    })
}

/// When a stream's deadline (`grpc-timeout`) passes; never without one.
async fn expiry(headers: &HeaderMap) {
    match headers.get("grpc-timeout").and_then(|value| timeout_of(value.as_bytes())) {
        Some(deadline) => tokio::time::sleep(deadline).await,
        None => std::future::pending().await,
    }
}

/// A call's one response message, then OK.
fn answer_ok(mut respond: SendResponse<Bytes>, message: &[u8]) {
    let Ok(mut stream) = respond.send_response(grpc_response(), false) else { return };
    if stream.send_data(framed(message), false).is_ok() {
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", HeaderValue::from_static("0"));
        let _ = stream.send_trailers(trailers);
    }
}

/// Trailers-Only: the status in the response's only headers.
fn trailers_only(mut respond: SendResponse<Bytes>, (code, message): (u32, String)) {
    let mut response = grpc_response();
    insert_status(response.headers_mut(), code, &message);
    let _ = respond.send_response(response, true);
}

fn insert_status(headers: &mut HeaderMap, code: u32, message: &str) {
    headers.insert("grpc-status", HeaderValue::from(code));
    if let Ok(value) = HeaderValue::from_str(&percent_encoded(message)) {
        headers.insert("grpc-message", value);
    }
}

fn grpc_response() -> Response<()> {
    let mut response = Response::new(());
    response.headers_mut().insert("content-type", HeaderValue::from_static("application/grpc"));
    response
}

/// A response message, length-prefixed (uncompressed).
fn framed(message: &[u8]) -> Bytes {
    let mut data = BytesMut::with_capacity(PREFIX + message.len());
    data.put_u8(0);
    data.put_u32(message.len() as u32);
    data.extend_from_slice(message);
    data.freeze()
}

async fn answer(request: Request<RecvStream>, shared: &Shared) -> Outcome {
    let (head, mut body) = request.into_parts();
    let Some(method) = shared.methods.get(head.uri.path()) else {
        return Outcome::Status(UNIMPLEMENTED, format!("unknown method {}", head.uri.path()));
    };
    let deadline = head.headers.get("grpc-timeout").and_then(|value| timeout_of(value.as_bytes()));
    let frame = match request_frame(&mut body, shared).await {
        Ok(frame) => frame,
        Err((code, message)) => return Outcome::Status(code, message),
    };
    let message = match message_of(&frame) {
        Ok(message) => message,
        Err((code, message)) => return Outcome::Status(code, message),
    };
    let (reply, completed) = Reply::new();
    let answered = Python::with_gil(|py| {
        let metadata = if shared.with_metadata { Some(metadata_of(py, &head.headers)) } else { None };
        let result = method.call1(py, (PyBytes::new(py, message), metadata, reply));
        match result.and_then(|result| outcome_of(result.bind(py))) {
            Ok(outcome) => outcome,
            Err(error) => {
                error.write_unraisable(py, Some(method.bind(py)));
                Some(Outcome::Status(UNKNOWN, "the method failed".into()))
            }
        }
    });
    if let Some(outcome) = answered {
        return outcome;
    }
    let completion = async { completed.await.unwrap_or(Outcome::Status(INTERNAL, "no reply".into())) };
    match deadline {
        Some(deadline) => tokio::time::timeout(deadline, completion)
            .await
            .unwrap_or(Outcome::Status(DEADLINE_EXCEEDED, "deadline exceeded".into())),
        None => completion.await,
    }
}

/// A call's request stream, read to its end: the framed message, at most `max_message_bytes`.
async fn request_frame(body: &mut RecvStream, shared: &Shared) -> Result<BytesMut, (u32, String)> {
    let mut frame = BytesMut::new();
    while let Some(chunk) = body.data().await {
        let Ok(chunk) = chunk else {
            return Err((UNAVAILABLE, "the call's stream broke".into()));
            // the caller is gone
        };
        let _ = body.flow_control().release_capacity(chunk.len());
        if frame.len() + chunk.len() > PREFIX + shared.max_message_bytes {
            let limit = shared.max_message_bytes;
            return Err((RESOURCE_EXHAUSTED, format!("a request message over {limit} bytes")));
        }
        frame.extend_from_slice(&chunk);
    }
    Ok(frame)
}

/// The one message of a call's request stream (unary and server-streaming calls send one).
fn message_of(frame: &[u8]) -> Result<&[u8], (u32, String)> {
    let head = frame.get(..PREFIX).ok_or_else(broken_framing)?;
    if length_of(head)? != frame.len() - PREFIX {
        return Err(broken_framing()); // a short message, or more than one
    }
    Ok(&frame[PREFIX..])
}

/// The next whole message at the start of `unread` (taken from it), None until its last byte has arrived.
fn next_message(unread: &mut BytesMut, max_message_bytes: usize) -> Result<Option<Bytes>, (u32, String)> {
    let Some(head) = unread.get(..PREFIX) else { return Ok(None) };
    let length = length_of(head)?;
    if length > max_message_bytes {
        return Err((RESOURCE_EXHAUSTED, format!("a request message over {max_message_bytes} bytes")));
    }
    if unread.len() < PREFIX + length {
        return Ok(None);
    }
    unread.advance(PREFIX);
    Ok(Some(unread.split_to(length).freeze()))
}

/// A message's length from its prefix; only uncompressed messages are taken.
fn length_of(head: &[u8]) -> Result<usize, (u32, String)> {
    if head[0] != 0 {
        return Err((UNIMPLEMENTED, "compressed messages are not supported".into()));
    }
    Ok(u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize)
}

fn broken_framing() -> (u32, String) {
    (INTERNAL, "malformed gRPC message framing".into())
}

/// The call's metadata as text: HTTP/2 pseudo-headers are not in it; a value that is not text is left out.
fn metadata_of<'py>(py: Python<'py>, headers: &HeaderMap) -> Bound<'py, PyDict> {
    let metadata = PyDict::new(py);
    for (name, value) in headers {
        if let Ok(text) = value.to_str() {
            let _ = metadata.set_item(name.as_str(), text);
        }
    }
    metadata
}

/// `grpc-timeout`: at most eight digits and a unit (H, M, S, m, u, n).
fn timeout_of(value: &[u8]) -> Option<Duration> {
    let (&unit, digits) = value.split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let amount: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(match unit {
        b'H' => Duration::from_secs(amount * 3600),
        b'M' => Duration::from_secs(amount * 60),
        b'S' => Duration::from_secs(amount),
        b'm' => Duration::from_millis(amount),
        b'u' => Duration::from_micros(amount),
        b'n' => Duration::from_nanos(amount),
        _ => return None,
    })
}

/// `grpc-message` is percent-encoded: every byte outside printable ASCII, and `%`.
fn percent_encoded(message: &str) -> String {
    let mut encoded = String::with_capacity(message.len());
    for &byte in message.as_bytes() {
        if (0x20..0x7f).contains(&byte) && byte != b'%' {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// The connection's socket as h2 sees it: what h2 writes in a turn of the connection is gathered (`Outgoing`) and
/// goes out in one write when the turn ends, so that the answers of the calls completed in one turn go out in one
/// write, whatever their size.
///
/// h2 copies a DATA frame into its write buffer only below a threshold, 256 bytes on a socket that takes vectored
/// writes and 1,024 on one that does not (h2 0.4.20 `src/codec/framed_write.rs`, `CHAIN_THRESHOLD`; the same in
/// 0.4.12, where it was measured). A larger frame is kept aside, and h2 flushes before it buffers anything else: a
/// write per call, two without vectored writes (the buffer, then the payload). An allow (context headers,
/// `RateLimit-*`, metadata) is 300-700 bytes, over 1 KiB with the backend JWT. Measured behind Envoy, the transport
/// wrote 1.14 segments per check answering the adapter's allow and 0.14 answering an empty OK (bench/README.md, "One
/// write for many answers"). So h2 is told there are no vectored writes (allows under 1 KiB are then buffered with
/// the rest), and its flushes only hand over what it wrote: a flush in the middle of a turn (to make room after a
/// large frame) and the one that ends it (`proto/connection.rs`, `poll`) look alike to a socket, so the turn's end is
/// taken where h2 says it is done, when its `poll_accept` is pending (`serve_connection`).
struct Gathering {
    reading: OwnedReadHalf,
    outgoing: Arc<Mutex<Outgoing>>,
}

/// What h2 has written on a connection and its socket has not yet taken. Shared by h2's socket (`Gathering`) and
/// the connection's loop, on the connection's task: the lock is never contended.
struct Outgoing {
    writing: OwnedWriteHalf,
    gathered: Vec<u8>,
    sent: usize, // of `gathered`, already written
    /// Flushes wait for the end of the turn (from the end of the handshake on: until then h2's flush writes).
    by_turn: bool,
    /// Why the socket failed, told to h2 at its next write.
    failed: Option<io::ErrorKind>,
    shared: Arc<Shared>, // counts the writes
}

/// Gathered bytes beyond which a write waits for the socket to take them (backpressure): h2 is held back.
const MAX_GATHERED: usize = 64 << 10;

impl Outgoing {
    fn new(writing: OwnedWriteHalf, shared: Arc<Shared>) -> Self {
        Outgoing { writing, gathered: Vec::new(), sent: 0, by_turn: false, failed: None, shared }
    }

    /// Write what is gathered, as far as the socket takes it.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(kind) = self.failed {
            return Poll::Ready(Err(kind.into()));
        }
        while self.sent < self.gathered.len() {
            // Counted before it is made, so that a peer that has read what a write sent finds it counted.
            self.shared.socket_writes.fetch_add(1, Ordering::Relaxed);
            let written = match Pin::new(&mut self.writing).poll_write(cx, &self.gathered[self.sent..]) {
                Poll::Ready(Ok(written)) if written > 0 => written,
                not_made => {
                    self.shared.socket_writes.fetch_sub(1, Ordering::Relaxed);
                    let Poll::Ready(failure) = not_made else { return Poll::Pending };
                    let kind = failure.err().map_or(io::ErrorKind::WriteZero, |error| error.kind());
                    self.failed = Some(kind);
                    return Poll::Ready(Err(kind.into()));
                }
            };
            self.sent += written;
        }
        self.gathered.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Gathering {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.reading).poll_read(cx, buf)
    }
}

impl AsyncWrite for Gathering {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let mut outgoing = self.outgoing.lock().unwrap();
        if outgoing.failed.is_some() || outgoing.gathered.len() - outgoing.sent >= MAX_GATHERED {
            ready!(outgoing.poll_send(cx))?;
        }
        outgoing.gathered.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut outgoing = self.outgoing.lock().unwrap();
        if outgoing.by_turn {
            return Poll::Ready(outgoing.failed.map_or(Ok(()), |kind| Err(kind.into())));
        }
        outgoing.poll_send(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut outgoing = self.outgoing.lock().unwrap();
        ready!(outgoing.poll_send(cx))?;
        Pin::new(&mut outgoing.writing).poll_shutdown(cx)
    }
    // is_write_vectored: false, the trait's default (see above).
}
