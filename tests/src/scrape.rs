//! Reads the denials agent's plain-HTTP endpoints (`/readyz`, `/metrics`) the way the kubelet
//! and Prometheus do: one HTTP/1.1 GET, and one sample of the Prometheus text format.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};

/// `GET path` on `addr`: the status code and the body, or `None` while nothing answers.
pub fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(addr).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let code = head.split(' ').nth(1)?.parse().ok()?;
    Some((code, body.to_owned()))
}

/// The value of the sample `series` (a metric name with its labels as the exposition writes
/// them, e.g. `x_total{a="b"}`) in a Prometheus text exposition.
pub fn sample(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}
