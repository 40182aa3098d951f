//! The one TLS configuration every outbound reqwest client uses.
//!
//! The AWS SDK's HTTPS client brings rustls with the aws-lc-rs crypto provider. reqwest's
//! own rustls features would add `ring`, a second provider, about 0.3 MiB in each Lambda
//! binary that forwards or sends (the gateway among them). So reqwest is built without a
//! provider, and every client is handed this configuration: aws-lc-rs, TLS 1.2 and 1.3, and
//! the Mozilla roots compiled in (`webpki-roots`, no file read at a cold start).
//!
//! Every reqwest client in the workspace, tests and tools included, starts from
//! [`client_builder`]: without a provider in its features, `reqwest::Client::new()` panics
//! ("No provider set") in any build where another crate turned reqwest's rustls on.

use std::sync::{Arc, OnceLock};

/// A reqwest client builder with the shared TLS configuration; callers add their timeouts,
/// redirect policy and headers.
pub fn client_builder() -> reqwest::ClientBuilder {
    static TLS: OnceLock<rustls::ClientConfig> = OnceLock::new();
    let tls = TLS.get_or_init(|| {
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("aws-lc-rs supports the default TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth()
    });
    reqwest::Client::builder().use_preconfigured_tls(tls.clone())
}

#[cfg(test)]
mod tests {
    #[test]
    fn builds_a_client_with_the_shared_tls_configuration() {
        // Without a provider in reqwest's features, building a client with its own TLS
        // configuration panics ("No provider set"): this one must not.
        super::client_builder().build().expect("a client");
        super::client_builder().build().expect("a second client from the same configuration");
    }
}
