//! The serving certificate, reloaded from disk while the server runs.
//!
//! cert-manager renews the certificate in a Secret; kubelet publishes the new Secret into the pod
//! by swapping the volume's `..data` symlink. Watching with inotify through that symlink dance is
//! fiddly, so a task re-reads the two files every `interval` and swaps the pair when their
//! contents change. New TLS handshakes pick up the new pair; connections already established
//! keep theirs, so no request fails during a renewal. A broken new pair (half-written, key not
//! matching the certificate) is logged and the old pair kept.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::certificate_metrics::{self, CertificateMetrics};

/// Why a certificate pair could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The certificate file holds no PEM certificate.
    #[error("{path}: no PEM certificate found ({detail})")]
    NoCertificate {
        /// The file.
        path: PathBuf,
        /// What the PEM parser said.
        detail: String,
    },
    /// The key file holds no usable PEM private key.
    #[error("{path}: no usable PEM private key ({detail})")]
    BadKey {
        /// The file.
        path: PathBuf,
        /// What the parser or the crypto provider said.
        detail: String,
    },
    /// The leaf certificate's notAfter cannot be read (the expiry gauge needs it).
    #[error("{what}: {detail}")]
    Expiry {
        /// The certificate file, or what the certificate is.
        what: String,
        /// What the X.509 parser said.
        detail: super::certificate_metrics::ExpiryError,
    },
    /// The key does not belong to the certificate.
    #[error("the key in {key} does not match the certificate in {cert}: {detail}")]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls said.
        detail: String,
    },
}

/// A certificate chain file and its private key file (PEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFiles {
    /// The certificate chain, leaf first (`tls.crt`).
    pub cert: PathBuf,
    /// The private key (`tls.key`).
    pub key: PathBuf,
}

/// The raw bytes of a pair as read, to tell whether anything changed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Snapshot {
    cert: Vec<u8>,
    key: Vec<u8>,
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

impl CertFiles {
    fn snapshot(&self) -> Result<Snapshot, TlsError> {
        Ok(Snapshot {
            cert: read(&self.cert)?,
            key: read(&self.key)?,
        })
    }

    /// Loads and checks the pair.
    pub fn load(&self) -> Result<Arc<CertifiedKey>, TlsError> {
        self.certified(&self.snapshot()?)
    }

    fn certified(&self, snapshot: &Snapshot) -> Result<Arc<CertifiedKey>, TlsError> {
        certified_key(snapshot, &self.cert, &self.key)
    }
}

/// Builds a checked `CertifiedKey` from PEM bytes; `cert` and `key` name the sources in errors.
fn certified_key(
    snapshot: &Snapshot,
    cert: &Path,
    key: &Path,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&snapshot.cert)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::NoCertificate {
            path: cert.to_path_buf(),
            detail: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert.to_path_buf(),
            detail: "the file is empty or holds no CERTIFICATE block".to_owned(),
        });
    }
    let private = PrivateKeyDer::from_pem_slice(&snapshot.key).map_err(|e| TlsError::BadKey {
        path: key.to_path_buf(),
        detail: e.to_string(),
    })?;
    let provider = provider();
    let signing = provider
        .key_provider
        .load_private_key(private)
        .map_err(|e| TlsError::BadKey {
            path: key.to_path_buf(),
            detail: e.to_string(),
        })?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|e| TlsError::Mismatch {
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
        detail: e.to_string(),
    })?;
    Ok(Arc::new(certified))
}

/// The process's crypto provider: ring, as everywhere in this project.
pub fn provider() -> Arc<CryptoProvider> {
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()))
}

/// The notAfter of `certified`'s leaf; `what` names the certificate in the error.
fn expiry(certified: &CertifiedKey, what: &str) -> Result<i64, TlsError> {
    let leaf = certified
        .end_entity_cert()
        .map_err(|e| TlsError::NoCertificate {
            path: PathBuf::from(what),
            detail: e.to_string(),
        })?;
    certificate_metrics::not_after(leaf).map_err(|detail| TlsError::Expiry {
        what: what.to_owned(),
        detail,
    })
}

/// A rustls certificate resolver whose pair can be replaced while the server runs. It keeps the
/// certificate metrics (reloads, expiry) of the pair it serves.
#[derive(Debug)]
pub struct ReloadingCert {
    current: RwLock<Arc<CertifiedKey>>,
    metrics: CertificateMetrics,
}

impl ReloadingCert {
    /// Starts with `initial`; fails when its leaf's notAfter cannot be read.
    pub fn new(initial: Arc<CertifiedKey>) -> Result<Arc<Self>, TlsError> {
        let metrics = CertificateMetrics::default();
        metrics.loaded(expiry(&initial, "the serving certificate")?);
        Ok(Arc::new(Self {
            current: RwLock::new(initial),
            metrics,
        }))
    }

    /// The serving certificate's metrics, to register once before serving.
    pub fn metrics(&self) -> &CertificateMetrics {
        &self.metrics
    }

    /// The pair new handshakes get.
    pub fn current(&self) -> Arc<CertifiedKey> {
        // A poisoned lock only means a writer panicked between two whole-Arc stores.
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn replace(&self, next: Arc<CertifiedKey>, not_after: i64) {
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = next;
        self.metrics.reloaded(not_after);
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// Loads `files` now, then keeps `ReloadingCert` up to date from them every `interval` until the
/// returned task is aborted or the runtime stops.
pub fn watch(
    files: CertFiles,
    interval: Duration,
) -> Result<(Arc<ReloadingCert>, tokio::task::JoinHandle<()>), TlsError> {
    let mut last = files.snapshot()?;
    let what = files.cert.display().to_string();
    let resolver = ReloadingCert::new(files.certified(&last)?).map_err(|e| match e {
        TlsError::Expiry { detail, .. } => TlsError::Expiry {
            what: what.clone(),
            detail,
        },
        other => other,
    })?;
    let handle = {
        let resolver = resolver.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_error: Option<String> = None;
            loop {
                ticker.tick().await;
                let result = files.snapshot().and_then(|snapshot| {
                    if snapshot == last {
                        return Ok(None);
                    }
                    let certified = files.certified(&snapshot)?;
                    let not_after = expiry(&certified, &what)?;
                    Ok(Some((snapshot, certified, not_after)))
                });
                match result {
                    Ok(None) => last_error = None,
                    Ok(Some((snapshot, certified, not_after))) => {
                        resolver.replace(certified, not_after);
                        last = snapshot;
                        last_error = None;
                        tracing::info!(cert = %files.cert.display(), "serving certificate reloaded");
                    }
                    // Mid-swap reads and half-written files are normal for a moment: log each
                    // distinct problem once, keep serving the old pair, retry on the next tick.
                    Err(err) => {
                        let message = err.to_string();
                        if last_error.as_deref() != Some(message.as_str()) {
                            tracing::warn!(error = %message, "new serving certificate not loaded; keeping the current one");
                            last_error = Some(message);
                        }
                    }
                }
            }
        })
    };
    Ok((resolver, handle))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().expect("key");
        let params = rcgen::CertificateParams::new(vec![name.to_owned()]).expect("params");
        let cert = params.self_signed(&key).expect("cert");
        (cert.pem(), key.serialize_pem())
    }

    fn files(dir: &Path, cert: &str, key: &str) -> CertFiles {
        std::fs::write(dir.join("tls.crt"), cert).expect("write");
        std::fs::write(dir.join("tls.key"), key).expect("write");
        CertFiles {
            cert: dir.join("tls.crt"),
            key: dir.join("tls.key"),
        }
    }

    #[test]
    fn loads_a_matching_pair() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, key) = pair("a.example");
        let loaded = files(dir.path(), &cert, &key).load().expect("load");
        assert_eq!(loaded.cert.len(), 1);
    }

    #[test]
    fn refuses_mismatched_empty_and_missing_files_naming_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, _) = pair("a.example");
        let (_, other_key) = pair("b.example");
        let err = files(dir.path(), &cert, &other_key).load().unwrap_err();
        assert!(matches!(err, TlsError::Mismatch { .. }), "{err}");
        assert!(err.to_string().contains("tls.key"), "{err}");

        let err = files(dir.path(), "", &other_key).load().unwrap_err();
        assert!(matches!(err, TlsError::NoCertificate { .. }), "{err}");

        let err = files(dir.path(), &cert, "not a key").load().unwrap_err();
        assert!(matches!(err, TlsError::BadKey { .. }), "{err}");

        let missing = CertFiles {
            cert: dir.path().join("nope.crt"),
            key: dir.path().join("nope.key"),
        };
        let err = missing.load().unwrap_err();
        assert!(err.to_string().contains("nope.crt"), "{err}");
    }

    #[tokio::test]
    async fn a_changed_pair_replaces_the_old_and_a_broken_one_does_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert_a, key_a) = pair("a.example");
        let files_a = files(dir.path(), &cert_a, &key_a);
        let (resolver, task) = watch(files_a.clone(), Duration::from_millis(20)).expect("watch");
        let first = resolver.current().cert[0].clone();

        // Half-written: a certificate without its key. The old pair stays.
        let (cert_b, key_b) = pair("b.example");
        std::fs::write(&files_a.cert, &cert_b).expect("write");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(resolver.current().cert[0], first);

        std::fs::write(&files_a.key, &key_b).expect("write");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while resolver.current().cert[0] == first {
            assert!(tokio::time::Instant::now() < deadline, "never reloaded");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Counted once (the half-written pair was not), with the new leaf's notAfter.
        assert_eq!(resolver.metrics().reloads(), 1);
        let leaf = &resolver.current().cert[0];
        let not_after = certificate_metrics::not_after(leaf).expect("notAfter");
        assert_eq!(resolver.metrics().expiry().seconds_until(not_after), 0);
        task.abort();
    }
}
