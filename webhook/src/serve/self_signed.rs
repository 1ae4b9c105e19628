//! A certificate for running without any set-up: a fresh CA and a serving certificate signed by
//! it, generated at start. The CA bundle is written to a file so a client (curl, the API server's
//! `caBundle`) can trust it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;

/// Why the self-signed certificate could not be made or published.
#[derive(Debug, thiserror::Error)]
pub enum SelfSignedError {
    /// rcgen refused (e.g. an unusable subject alternative name).
    #[error("cannot generate the self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// The key could not be loaded by the crypto provider.
    #[error("cannot load the generated key: {0}")]
    Key(#[from] rustls::Error),
    /// The CA bundle could not be written.
    #[error("cannot write the CA bundle to {path}: {source}")]
    Write {
        /// Where.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// The names every self-signed serving certificate carries.
pub const DEFAULT_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// A generated CA and serving pair.
pub struct SelfSigned {
    /// The CA certificate (PEM) clients should trust.
    pub ca_pem: String,
    /// The serving certificate and key.
    pub certified: Arc<CertifiedKey>,
}

/// Generates a CA and a serving certificate for `DEFAULT_NAMES` plus `extra_names`.
pub fn generate(extra_names: &[String]) -> Result<SelfSigned, SelfSignedError> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "landlock-webhook self-signed CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let mut names: Vec<String> = DEFAULT_NAMES.iter().map(|n| (*n).to_owned()).collect();
    for name in extra_names {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    let leaf_key = KeyPair::generate()?;
    let mut leaf_params = CertificateParams::new(names)?;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "landlock-webhook");
    let leaf_cert = leaf_params.signed_by(&leaf_key, &issuer)?;

    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let chain: Vec<CertificateDer<'static>> = vec![leaf_cert.der().clone()];
    let certified = CertifiedKey::from_der(chain, key, &super::tls_reload::provider())?;
    Ok(SelfSigned {
        ca_pem: ca_cert.pem(),
        certified: Arc::new(certified),
    })
}

/// Writes the CA bundle to `path` (creating its directory), readable by everyone: it is public.
pub fn write_ca(path: &Path, ca_pem: &str) -> Result<(), SelfSignedError> {
    let write = || -> std::io::Result<()> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, ca_pem)
    };
    write().map_err(|source| SelfSignedError::Write {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::client::danger::ServerCertVerifier;
    use rustls::pki_types::pem::PemObject;

    #[test]
    fn the_serving_certificate_chains_to_the_ca_and_names_localhost() {
        let generated =
            generate(&["landlock-webhook.landlock-injector.svc".to_owned()]).expect("generate");
        let ca = CertificateDer::from_pem_slice(generated.ca_pem.as_bytes()).expect("CA PEM");
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca).expect("add CA");
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            super::super::tls_reload::provider(),
        )
        .build()
        .expect("verifier");
        for name in [
            "localhost",
            "127.0.0.1",
            "landlock-webhook.landlock-injector.svc",
        ] {
            let server_name = rustls::pki_types::ServerName::try_from(name).expect("name");
            verifier
                .verify_server_cert(
                    &generated.certified.cert[0],
                    &[],
                    &server_name,
                    &[],
                    rustls::pki_types::UnixTime::now(),
                )
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
