//! Reading a request body whole, by a deadline and within a size limit.
//!
//! The API server sends an AdmissionReview in one piece, so a body that is still arriving a few
//! seconds after its request began is an attack (a client once held a connection for 90 s with
//! `Content-Length: 3000000` and a byte a second). tower-http's `RequestBodyTimeoutLayer`
//! restarts its timer at every frame, which such a client defeats; this reader has one deadline
//! for the whole body. Each frame is copied into one buffer and dropped at once: keeping the
//! frames (as `Bytes` collection does) kept alive the connection's read buffer behind each
//! 1-byte frame, ~2.7 KB each.

use axum::body::Body;
use http_body_util::BodyExt as _;
use tokio::time::Instant;

/// Why a body was not read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Larger than the limit (announced or received).
    #[error("the body is larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// Not complete by the deadline.
    #[error("the body did not arrive within {seconds:.1} s of the request's first byte")]
    TooSlow {
        /// The time the request had.
        seconds: f64,
    },
    /// The connection failed while reading.
    #[error("reading the body failed: {0}")]
    Read(String),
}

/// Reads `body` whole by `deadline`; `announced` is its Content-Length, if it sent one.
/// `allowed` is the time the request had in all (for the message).
pub async fn read(
    mut body: Body,
    announced: Option<u64>,
    limit: usize,
    deadline: Instant,
    allowed: std::time::Duration,
) -> Result<Vec<u8>, BodyError> {
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge { limit });
    }
    // Reserve what was announced (bounded by the limit) once; chunked bodies grow as needed.
    let capacity = announced.map_or(16 * 1024, |n| n as usize);
    let mut out = Vec::with_capacity(capacity.min(limit));
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => {
                return Err(BodyError::TooSlow {
                    seconds: allowed.as_secs_f64(),
                });
            }
            Ok(None) => return Ok(out),
            Ok(Some(Err(e))) => return Err(BodyError::Read(e.to_string())),
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > limit {
                return Err(BodyError::TooLarge { limit });
            }
            out.extend_from_slice(&data);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn chunks(parts: Vec<&'static [u8]>) -> Body {
        let stream = futures::stream::iter(
            parts
                .into_iter()
                .map(|p| Ok::<_, std::io::Error>(axum::body::Bytes::from_static(p))),
        );
        Body::from_stream(stream)
    }

    #[tokio::test]
    async fn whole_bodies_are_read_and_oversized_ones_refused() {
        let far = Instant::now() + Duration::from_secs(5);
        let got = read(
            chunks(vec![b"ab", b"c"]),
            None,
            3,
            far,
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(got.expect("read"), b"abc");
        let got = read(
            chunks(vec![b"ab", b"cd"]),
            None,
            3,
            far,
            Duration::from_secs(5),
        )
        .await;
        assert!(matches!(got, Err(BodyError::TooLarge { limit: 3 })));
        let got = read(chunks(vec![]), Some(4), 3, far, Duration::from_secs(5)).await;
        assert!(matches!(got, Err(BodyError::TooLarge { limit: 3 })));
    }

    #[tokio::test]
    async fn a_body_still_arriving_at_the_deadline_is_cut() {
        let (mut tx, body) = {
            let (tx, rx) =
                futures::channel::mpsc::channel::<Result<axum::body::Bytes, std::io::Error>>(1);
            (tx, Body::from_stream(rx))
        };
        let dripping = tokio::spawn(async move {
            use futures::SinkExt as _;
            for _ in 0..100 {
                if tx
                    .send(Ok(axum::body::Bytes::from_static(b"x")))
                    .await
                    .is_err()
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        let deadline = Instant::now() + Duration::from_millis(200);
        let got = read(body, Some(1000), 4096, deadline, Duration::from_millis(200)).await;
        let err = got.expect_err("cut");
        assert!(err.to_string().contains("within 0.2 s"), "{err}");
        dripping.abort();
    }
}
