//! What the compiled transports (grpc.rs, http.rs) share: the listening socket, the serving thread and its stop,
//! and `Reply`, the completion of a call whose answer a Python method handed to another thread.

use std::future::Future;
use std::net::{SocketAddr, TcpListener as StdListener, ToSocketAddrs};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::Duration;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use socket2::{Domain, Protocol, SockRef, Socket, TcpKeepalive, Type};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;

/// How long a new connection has to send its first request head (HTTP/1.1) or HTTP/2's preface and settings.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);

/// The stop signal a connection watches: None while serving, then the grace period.
pub type Stopping = watch::Receiver<Option<Duration>>;

/// A call's answer, completed by `Reply` (or returned by the method at once).
pub enum Outcome {
    /// gRPC: the response message; HTTP: a 200 with this body.
    Message(Vec<u8>),
    /// gRPC: a status code and message; HTTP: this status with the message as a text body.
    Status(u32, String),
    /// HTTP: status, headers and body.
    Response(u16, Vec<(String, String)>, Vec<u8>),
}

/// The completion of a call a method handed off: `send` a gRPC response message, `fail` with a status, or
/// `respond` with an HTTP response, once. Each returns False when the call is already over (its deadline passed,
/// the caller went away, the server stopped, or it was completed).
#[pyclass(frozen, module = "apim_adapter_native")]
pub struct Reply {
    sender: Mutex<Option<oneshot::Sender<Outcome>>>,
}

impl Reply {
    pub fn new() -> (Self, oneshot::Receiver<Outcome>) {
        let (done, completed) = oneshot::channel();
        (Reply { sender: Mutex::new(Some(done)) }, completed)
    }

    fn complete(&self, outcome: Outcome) -> bool {
        let sender = self.sender.lock().map(|mut held| held.take()).unwrap_or(None);
        sender.is_some_and(|sender| sender.send(outcome).is_ok())
    }
}

#[pymethods]
impl Reply {
    fn send(&self, message: &[u8]) -> bool {
        self.complete(Outcome::Message(message.to_vec()))
    }

    fn fail(&self, code: u32, message: &str) -> bool {
        self.complete(Outcome::Status(code, message.to_owned()))
    }

    #[pyo3(signature = (status, headers, body = b"".as_slice()))]
    fn respond(&self, status: u16, headers: Vec<(String, String)>, body: &[u8]) -> bool {
        self.complete(Outcome::Response(status, headers, body.to_vec()))
    }

    /// Whether the caller still waits for this reply: work for a call nobody waits for can be skipped.
    #[getter]
    fn pending(&self) -> bool {
        self.sender.lock().map(|held| held.as_ref().is_some_and(|sender| !sender.is_closed())).unwrap_or(false)
    }
}

/// A server's socket, bound at construction with SO_REUSEPORT (several adapter workers share the port; the kernel
/// spreads connections over them), and the thread serving it once started.
pub struct Listening {
    pub port: u16,
    keepalive: Option<Duration>,
    // Taken by `start` and by `stop`, each under the lock for a moment: `stop` blocks without holding it.
    listener: Mutex<Option<StdListener>>,
    running: Mutex<Option<Running>>,
}

/// What stops a started server: its stop signal (the grace period) and its thread.
type Running = (watch::Sender<Option<Duration>>, JoinHandle<()>);

impl Listening {
    /// `host:port` (port 0: any free one); `keepalive_seconds`: idle seconds before TCP keepalive probes a
    /// connection (0: none).
    pub fn bind(host: &str, port: u16, keepalive_seconds: u64) -> PyResult<Self> {
        let address = (host, port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| PyRuntimeError::new_err(format!("{host}: no address to listen on")))?;
        let listener = bind(address)?;
        Ok(Listening {
            port: listener.local_addr()?.port(),
            keepalive: (keepalive_seconds > 0).then(|| Duration::from_secs(keepalive_seconds)),
            listener: Mutex::new(Some(listener)),
            running: Mutex::new(None),
        })
    }

    /// Serve on a thread of its own (named `name`) until `stop`: each connection accepted is served by
    /// `connection(socket, peer, stopping)` on that thread's runtime.
    pub fn start<F, Served>(&self, name: &str, connection: F) -> PyResult<()>
    where
        F: Fn(TcpStream, SocketAddr, Stopping) -> Served + Send + 'static,
        Served: Future<Output = ()> + Send + 'static,
    {
        let taken = self.listener.lock().map(|mut held| held.take()).unwrap_or(None);
        let listener = taken.ok_or_else(|| PyRuntimeError::new_err("already started or stopped"))?;
        listener.set_nonblocking(true)?;
        let (stop, stopping) = watch::channel(None);
        let keepalive = self.keepalive;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        // The thread keeps one Python thread state for its whole life, the GIL released but for each call: on a
        // thread Python does not know, every `with_gil` would otherwise create and destroy one (several µs per call).
        let thread = std::thread::Builder::new().name(name.into()).spawn(move || {
            Python::with_gil(|py| {
                py.allow_threads(|| runtime.block_on(accept(listener, keepalive, stopping, connection)))
            })
        })?;
        if let Ok(mut running) = self.running.lock() {
            *running = Some((stop, thread));
        }
        Ok(())
    }

    /// Stop taking connections, have each connection finish its calls in flight within `grace_seconds` (then
    /// they are cut), and end. Blocks until the server's thread has ended; idempotent.
    pub fn stop(&self, py: Python<'_>, grace_seconds: f64) {
        if let Ok(mut listener) = self.listener.lock() {
            *listener = None;
        }
        let running = self.running.lock().map(|mut held| held.take()).unwrap_or(None);
        if let Some((stop, thread)) = running {
            let _ = stop.send(Some(Duration::from_secs_f64(grace_seconds.max(0.0))));
            // The thread may need the GIL to finish calls in flight.
            let _ = py.allow_threads(move || thread.join());
        }
    }
}

fn bind(address: SocketAddr) -> std::io::Result<StdListener> {
    let socket = Socket::new(Domain::for_address(address), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&address.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

async fn accept<F, Served>(listener: StdListener, keepalive: Option<Duration>, mut stopping: Stopping, connection: F)
where
    F: Fn(TcpStream, SocketAddr, Stopping) -> Served,
    Served: Future<Output = ()> + Send + 'static,
{
    let Ok(listener) = TcpListener::from_std(listener) else { return };
    let mut connections = JoinSet::new();
    let grace = loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    prepare(&socket, keepalive);
                    connections.spawn(connection(socket, peer, stopping.clone()));
                }
                // Out of descriptors or the like: let connections close before trying again.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            changed = stopping.changed() => match changed {
                Ok(()) => if let Some(grace) = *stopping.borrow() { break grace },
                Err(_) => break Duration::ZERO,
            },
        }
    };
    drop(listener);
    let drained = async { while connections.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(grace, drained).await;
    // Dropping the set aborts the connections still open.
}

fn prepare(socket: &TcpStream, keepalive: Option<Duration>) {
    let _ = socket.set_nodelay(true); // a check is one small request and response: never wait to coalesce
    if let Some(idle) = keepalive {
        let probes =
            TcpKeepalive::new().with_time(idle).with_interval(Duration::from_secs(idle.as_secs().clamp(1, 75)));
        let _ = SockRef::from(socket).set_tcp_keepalive(&probes);
    }
}

/// A Python method's answer: None (handed off to a `Reply`), bytes (a gRPC message / a 200's body), a
/// `(code, message)` status, or an HTTP `(status, headers, body)`.
pub fn outcome_of(result: &Bound<'_, PyAny>) -> PyResult<Option<Outcome>> {
    use pyo3::types::{PyBytes, PyTuple};
    if result.is_none() {
        return Ok(None);
    }
    if let Ok(message) = result.downcast::<PyBytes>() {
        return Ok(Some(Outcome::Message(message.as_bytes().to_vec())));
    }
    if let Ok(response) = result.downcast::<PyTuple>() {
        if response.len() == 3 {
            let body = response.get_item(2)?;
            let body = body.downcast::<PyBytes>()?.as_bytes().to_vec();
            return Ok(Some(Outcome::Response(
                response.get_item(0)?.extract()?,
                response.get_item(1)?.extract()?,
                body,
            )));
        }
    }
    let (code, message): (u32, String) = result.extract()?;
    Ok(Some(Outcome::Status(code, message)))
}
