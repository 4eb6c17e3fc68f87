//! The apim-adapter's compiled parts, each optional (the adapter does the same in Python without them, at more CPU
//! per check):
//! - `read_check` (reader.rs): the fields of an Envoy `CheckRequest` a warm check needs, read from its bytes;
//! - `GrpcServer` (grpc.rs): the gRPC transport (`server.grpcTransport: compiled`), HTTP/2 and gRPC framing in
//!   Rust, each call's message handed to a Python callable;
//! - `HttpServer` (http.rs): the HTTP-mode transport (`server.httpTransport: compiled`), HTTP/1.1 and HTTP/2 in
//!   Rust, each checked request's fields handed to Python callables.

use pyo3::prelude::*;

mod grpc;
mod http;
mod reader;
mod serving;

#[pymodule]
fn apim_adapter_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(reader::read_check, m)?)?;
    m.add_class::<grpc::GrpcServer>()?;
    m.add_class::<http::HttpServer>()?;
    m.add_class::<serving::Reply>()
}
