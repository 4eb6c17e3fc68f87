//! The apim-adapter's gRPC request reader: the fields of an Envoy ext_authz v3 `CheckRequest` that a warm check
//! needs, read straight from the request's bytes.
//!
//! Why it exists: behind Envoy, parsing each request into a Python protobuf message and reading its fields costs the
//! adapter more server CPU than everything else a warm check does (bench/README.md, "A compiled request reader").
//! This reader walks the protobuf wire format of the few messages on the way to those fields and hands Python
//! nothing but the strings it needs and the SHA-256 of the Authorization header (the only form in which the
//! adapter keys a credential).
//!
//! It answers exactly what the Python reader (`apim_adapter.transport.grpc.read_python`, on the protobuf runtime)
//! answers for the same bytes, or nothing: `None` sends the request to the Python reader, so whatever this reader
//! does not handle keeps today's behaviour. It declines (returns `None`):
//! - malformed wire data on the messages it walks (truncated lengths, bad varints, groups, field number 0);
//! - a message field on its way repeated (protobuf merges repeated message fields; this reader does not);
//! - another member of `Address`'s oneof than `socket_address`, and headers sent as `header_map` (Envoy's
//!   `encode_raw_headers`), which the adapter does not read;
//! - a header (a map entry) with a field other than its key and value;
//! - a string field of `HttpRequest`, a header, or the peer address that is not UTF-8 (the protobuf runtime
//!   refuses such a request; the Python reader then answers it).
//!
//! Field numbers are those of envoy/service/auth/v3/{external_auth,attribute_context}.proto,
//! envoy/config/core/v3/address.proto.

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use sha2::{Digest, Sha256};

struct Malformed;

type Read<T> = Result<T, Malformed>;

enum Value<'a> {
    Scalar,
    Bytes(&'a [u8]),
}

/// The fields of one message, in order: (number, value); wire data checked as it is walked.
struct Fields<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Fields<'a> {
    fn of(buf: &'a [u8]) -> Self {
        Fields { buf, at: 0 }
    }

    fn varint(&mut self) -> Read<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.buf.get(self.at).ok_or(Malformed)?;
            self.at += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(Malformed) // more than ten bytes
    }

    fn skip(&mut self, n: usize) -> Read<()> {
        self.at = self.at.checked_add(n).filter(|&end| end <= self.buf.len()).ok_or(Malformed)?;
        Ok(())
    }

    fn next_field(&mut self) -> Read<Option<(u64, Value<'a>)>> {
        if self.at == self.buf.len() {
            return Ok(None);
        }
        let tag = self.varint()?;
        let number = tag >> 3;
        if number == 0 || number > 0x1fff_ffff {
            return Err(Malformed);
        }
        let value = match tag & 7 {
            0 => self.varint().map(|_| Value::Scalar)?,
            1 => self.skip(8).map(|_| Value::Scalar)?,
            5 => self.skip(4).map(|_| Value::Scalar)?,
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| Malformed)?;
                let start = self.at;
                self.skip(len)?;
                Value::Bytes(&self.buf[start..self.at])
            }
            _ => return Err(Malformed), // groups (3, 4) and the unused wire types
        };
        Ok(Some((number, value)))
    }
}

fn text(bytes: &[u8]) -> Read<&str> {
    std::str::from_utf8(bytes).map_err(|_| Malformed)
}

/// The one occurrence of message field `number` in `buf` (empty when absent, as protobuf reads a missing message);
/// `declined` field numbers make the whole read decline.
fn only_message<'a>(buf: &'a [u8], number: u64, declined: &[u64]) -> Read<&'a [u8]> {
    let mut found: Option<&[u8]> = None;
    let mut fields = Fields::of(buf);
    while let Some((n, value)) = fields.next_field()? {
        if declined.contains(&n) {
            return Err(Malformed);
        }
        if n == number {
            match (value, found) {
                (Value::Bytes(bytes), None) => found = Some(bytes),
                _ => return Err(Malformed), // repeated (protobuf would merge) or not length-delimited
            }
        }
    }
    Ok(found.unwrap_or(&[]))
}

#[derive(Default)]
struct Request<'a> {
    authorization: Option<&'a [u8]>,
    method: &'a str,
    path: &'a str,
    host: &'a str,
    user_agent: &'a str,
    request_id: &'a str,
    forwarded_for: &'a str,
    external_address: &'a str,
    peer: &'a str,
}

const HTTP_STRINGS: [u64; 9] = [1, 2, 4, 5, 6, 7, 8, 10, 11]; // id, method, path, host, scheme, query, fragment, protocol, body
const HEADERS: u64 = 3;
const HEADER_MAP: u64 = 13;

fn header(entry: &[u8]) -> Read<(&str, &str)> {
    let (mut key, mut value) = ("", "");
    let mut fields = Fields::of(entry);
    while let Some((n, field)) = fields.next_field()? {
        match (n, field) {
            (1, Value::Bytes(bytes)) => key = text(bytes)?,
            (2, Value::Bytes(bytes)) => value = text(bytes)?,
            // Another field in a map entry: protobuf keeps such an entry out of the map (among the message's
            // unknown fields), and so may a wrong wire type; this reader declines instead of following it.
            _ => return Err(Malformed),
        }
    }
    Ok((key, value))
}

fn read_http<'a>(http: &'a [u8], into: &mut Request<'a>) -> Read<()> {
    let mut fields = Fields::of(http);
    while let Some((n, field)) = fields.next_field()? {
        if n == HEADER_MAP {
            return Err(Malformed);
        }
        let bytes = match field {
            Value::Bytes(bytes) => bytes,
            Value::Scalar if n == HEADERS || HTTP_STRINGS.contains(&n) => return Err(Malformed),
            Value::Scalar => continue,
        };
        if n == HEADERS {
            // A map: the last entry of a key wins, as protobuf reads it.
            match header(bytes)? {
                ("authorization", value) => into.authorization = Some(value.as_bytes()),
                ("user-agent", value) => into.user_agent = value,
                ("x-request-id", value) => into.request_id = value,
                ("x-forwarded-for", value) => into.forwarded_for = value,
                ("x-envoy-external-address", value) => into.external_address = value,
                _ => {}
            }
        } else if HTTP_STRINGS.contains(&n) {
            let value = text(bytes)?; // a singular field: the last occurrence wins
            match n {
                2 => into.method = value,
                4 => into.path = value,
                5 => into.host = value,
                _ => {}
            }
        }
    }
    Ok(())
}

fn read_peer_address(source: &[u8]) -> Read<&str> {
    let address = only_message(source, 1, &[])?; // Peer.address
    let socket = only_message(address, 1, &[2, 3])?; // Address.socket_address, not pipe or envoy_internal_address
    let mut peer = "";
    let mut fields = Fields::of(socket);
    while let Some((n, field)) = fields.next_field()? {
        match (n, field) {
            (2, Value::Bytes(bytes)) => peer = text(bytes)?, // SocketAddress.address
            (2, Value::Scalar) => return Err(Malformed),
            _ => {}
        }
    }
    Ok(peer)
}

fn read(raw: &[u8]) -> Read<Request<'_>> {
    let attributes = only_message(raw, 1, &[])?; // CheckRequest.attributes
    let source = only_message(attributes, 1, &[])?; // AttributeContext.source
    let request = only_message(attributes, 4, &[])?; // AttributeContext.request
    let http = only_message(request, 2, &[])?; // Request.http
    let mut into = Request { peer: read_peer_address(source)?, ..Request::default() };
    read_http(http, &mut into)?;
    Ok(into)
}

type Answer<'py, 'a> =
    (Option<Bound<'py, PyBytes>>, &'a str, &'a str, &'a str, &'a str, &'a str, &'a str, &'a str, &'a str);

/// The SHA-256 of the Authorization header (None when it is missing or empty), then method, path, host, user
/// agent, request id, x-forwarded-for, x-envoy-external-address and the peer's address ("" when missing); None
/// when this reader declines the request (see the module's comment).
#[pyfunction]
pub fn read_check<'py, 'a>(py: Python<'py>, raw: &'a [u8]) -> Option<Answer<'py, 'a>> {
    let r = read(raw).ok()?;
    let credential =
        r.authorization.filter(|value| !value.is_empty()).map(|value| PyBytes::new(py, &Sha256::digest(value)));
    Some((
        credential,
        r.method,
        r.path,
        r.host,
        r.user_agent,
        r.request_id,
        r.forwarded_for,
        r.external_address,
        r.peer,
    ))
}
