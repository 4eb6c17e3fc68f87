//! The apim-adapter's compiled parts, each optional (the adapter does the same in Python without them, at more CPU
//! per check):
//! - `read_check` (reader.rs): the fields of an Envoy `CheckRequest` a warm check needs, read from its bytes;
//! - `GrpcServer` (server.rs): the gRPC transport (`server.grpcTransport: compiled`), HTTP/2 and gRPC framing in
//!   Rust, each call's message handed to a Python callable.

use pyo3::prelude::*;

mod reader;
mod server;

#[pymodule]
fn apim_adapter_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(reader::read_check, m)?)?;
    m.add_class::<server::GrpcServer>()?;
    m.add_class::<server::Reply>()
}
