//! Which certificate authorities registry TLS trusts: Mozilla's roots, compiled into the binary
//! (`webpki-root-certs`, the set Ory Kratos and most static Rust and Go binaries ship), plus the
//! PEM files given with `--registry-ca` for private registries.
//!
//! Never the trust store of the machine or image: the webhook image is `FROM scratch` (no
//! `/etc/ssl`), its self-sandbox grants no trust-store paths, and a webhook whose registry TLS
//! depended on either would fail, or worse panic, where it is deployed.

use std::path::{Path, PathBuf};

use oci_client::client::{Certificate, CertificateEncoding};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// Why a `--registry-ca` file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// The file could not be read.
    #[error("--registry-ca {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file holds a PEM block that is not a valid certificate.
    #[error("--registry-ca {}: not a PEM certificate bundle: {problem}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What the PEM parser said.
        problem: String,
    },
    /// The file holds no certificate at all.
    #[error("--registry-ca {}: no `BEGIN CERTIFICATE` block in the file", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
}

/// The compiled-in roots followed by every certificate of every `extra` PEM file.
pub fn roots(extra: &[PathBuf]) -> Result<Vec<Certificate>, TrustError> {
    let mut roots: Vec<Certificate> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .map(|der| der_certificate(der.as_ref().to_vec()))
        .collect();
    for path in extra {
        roots.extend(pem_file(path)?);
    }
    Ok(roots)
}

fn der_certificate(data: Vec<u8>) -> Certificate {
    Certificate {
        encoding: CertificateEncoding::Der,
        data,
    }
}

/// The certificates of one PEM bundle (a CA file may hold several, e.g. an intermediate).
fn pem_file(path: &Path) -> Result<Vec<Certificate>, TrustError> {
    let data = std::fs::read(path).map_err(|source| TrustError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let certificates = CertificateDer::pem_slice_iter(&data)
        .map(|der| der.map(|der| der_certificate(der.as_ref().to_vec())))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TrustError::Pem {
            path: path.to_path_buf(),
            problem: e.to_string(),
        })?;
    if certificates.is_empty() {
        return Err(TrustError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(certificates)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mozilla_roots_are_compiled_in_and_private_cas_are_added() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = params.self_signed(&key).expect("CA");
        let bundle = dir.path().join("ca.pem");
        std::fs::write(&bundle, format!("{}{}", ca.pem(), ca.pem())).expect("write");

        let builtin = roots(&[]).expect("roots");
        assert!(builtin.len() > 100, "{} compiled-in roots", builtin.len());
        let with_private = roots(&[bundle]).expect("roots");
        assert_eq!(
            with_private.len(),
            builtin.len() + 2,
            "both certificates of the bundle"
        );
        assert_eq!(
            with_private.last().map(|c| c.data.as_slice()),
            Some(ca.der().as_ref())
        );
    }

    #[test]
    fn unusable_ca_files_are_named_with_the_problem() {
        let dir = tempfile::tempdir().expect("tempdir");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").expect("write");
        let broken = dir.path().join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
        )
        .expect("write");
        let missing = dir.path().join("missing.pem");
        for (path, expected) in [
            (&empty, "no `BEGIN CERTIFICATE` block"),
            (&broken, "not a PEM certificate bundle"),
            (&missing, "No such file"),
        ] {
            let err = roots(std::slice::from_ref(path)).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("--registry-ca {}: ", path.display()))
                    && err.contains(expected),
                "{err}"
            );
        }
    }
}
