//! The HTTPS client of every AWS SDK client in a Lambda function: the SDK's own (hyper,
//! rustls on aws-lc-rs, proxies from the environment), trusting the roots of Amazon Trust
//! Services compiled in rather than the system's.
//!
//! Why: the SDK's default client reads the system's CA certificates before its first call
//! (a bundle and a directory of files), about 2.5 ms of every cold start measured by
//! `bench --cold-start-only`, for roots that no AWS endpoint uses. Every AWS service
//! endpoint presents a chain to one of the five roots in `certs/amazon-trust-services.pem`.
//!
//! The system's roots are still read where a server outside Amazon's certificates may
//! answer ([`needs_system_roots`]): an endpoint override over HTTPS, a proxy, or the China
//! partition.

use aws_smithy_http_client::{
    proxy::ProxyConfig,
    tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore},
    Builder, ConnectorBuilder,
};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// The roots of Amazon Trust Services (Amazon Root CA 1-4 and Starfield Services Root G2), PEM.
pub const AMAZON_TRUST_SERVICES_ROOTS: &str = include_str!("../certs/amazon-trust-services.pem");

/// The HTTPS client for the SDK configuration of a cold start, with the trust store of
/// [`trust_store`] for this process's environment.
pub fn https_client() -> SharedHttpClient {
    let tls_context = TlsContext::builder()
        // `vars_os`: `std::env::vars` panics on a value that is not UTF-8.
        .with_trust_store(trust_store(needs_system_roots(
            std::env::vars_os()
                .map(|(name, value)| (name.to_string_lossy().into_owned(), value.to_string_lossy().into_owned())),
        )))
        .build()
        .expect("a TLS context has no invalid settings");
    // The SDK's default client (aws-smithy-runtime's `default_https_client`) with another TLS
    // context: the same connector per connector settings, the same proxy handling.
    Builder::new().build_with_connector_fn(move |settings, runtime_components| {
        let mut connector = ConnectorBuilder::default()
            .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
            .tls_context(tls_context.clone());
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = runtime_components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

/// Amazon's roots, and the system's as well when `with_system_roots`.
pub fn trust_store(with_system_roots: bool) -> TrustStore {
    TrustStore::empty().with_native_roots(with_system_roots).with_pem_certificate(AMAZON_TRUST_SERVICES_ROOTS)
}

/// Whether the environment `vars` can send the SDK to a server that Amazon's roots may not
/// certify: an `AWS_ENDPOINT_URL` (or a service's `AWS_ENDPOINT_URL_<SERVICE>`) over HTTPS,
/// a proxy (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, in either case), or a region of the
/// China partition (`cn-`). A plain-HTTP endpoint (a local emulator) needs no roots at all.
pub fn needs_system_roots(vars: impl IntoIterator<Item = (String, String)>) -> bool {
    vars.into_iter().any(|(name, value)| {
        let value = value.trim();
        if value.is_empty() {
            return false;
        }
        let name = name.to_ascii_uppercase();
        (name.starts_with("AWS_ENDPOINT_URL") && value.to_ascii_lowercase().starts_with("https://"))
            || matches!(name.as_str(), "HTTPS_PROXY" | "HTTP_PROXY" | "ALL_PROXY")
            || (matches!(name.as_str(), "AWS_REGION" | "AWS_DEFAULT_REGION") && value.starts_with("cn-"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::{pem::PemObject, CertificateDer};

    fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
        vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_amazon_roots_are_five_certificates_rustls_accepts_as_trust_anchors() {
        // The SDK parses the PEM and adds each certificate to a rustls root store when it
        // builds its first connector, and panics on either failing: check both here.
        let certificates = CertificateDer::pem_slice_iter(AMAZON_TRUST_SERVICES_ROOTS.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("valid PEM");
        assert_eq!(certificates.len(), 5);
        let mut roots = rustls::RootCertStore::empty();
        for certificate in certificates {
            roots.add(certificate).expect("a trust anchor");
        }
        assert_eq!(roots.len(), 5);
    }

    #[test]
    fn an_aws_region_with_a_plain_http_emulator_needs_no_system_roots() {
        assert!(!needs_system_roots(env(&[("AWS_REGION", "eu-west-1"), ("PATH", "/usr/bin")])));
        assert!(!needs_system_roots(env(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")])));
        assert!(!needs_system_roots(env(&[("HTTPS_PROXY", " "), ("AWS_ENDPOINT_URL_SQS", "")])));
    }

    #[test]
    fn an_https_endpoint_a_proxy_or_the_china_partition_needs_the_system_roots() {
        assert!(needs_system_roots(env(&[("AWS_ENDPOINT_URL", "https://localhost.localstack.cloud:4566")])));
        assert!(needs_system_roots(env(&[("AWS_ENDPOINT_URL_DYNAMODB", "HTTPS://ddb.internal")])));
        assert!(needs_system_roots(env(&[("https_proxy", "http://proxy:3128")])));
        assert!(needs_system_roots(env(&[("ALL_PROXY", "socks5://proxy:1080")])));
        assert!(needs_system_roots(env(&[("AWS_REGION", "cn-north-1")])));
    }

    #[test]
    fn an_environment_value_that_is_not_utf8_does_not_stop_a_cold_start() {
        use std::os::unix::ffi::OsStrExt;
        // A name no other test reads; set for the length of this test only.
        let name = "TOLLGATE_TEST_NOT_UTF8";
        std::env::set_var(name, std::ffi::OsStr::from_bytes(b"\xff\xfe"));
        let built = std::panic::catch_unwind(https_client);
        std::env::remove_var(name);
        assert!(built.is_ok(), "building the HTTPS client panicked on a non-UTF-8 environment value");
    }

    #[cfg(feature = "dynamodb")]
    #[tokio::test]
    async fn the_sdk_reaches_a_plain_http_endpoint_through_this_client() {
        // A client built here must serve a real SDK call: a DynamoDB call to a local TCP
        // listener that answers with an HTTP error proves the connector was built (trust
        // store included) and used.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let endpoint = format!("http://{}", listener.local_addr().expect("an address"));
        let answered = tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut socket, _) = listener.accept().await.expect("a connection");
            let mut request = vec![0u8; 4096];
            let _ = socket.read(&mut request).await.expect("a request");
            let body =
                r#"{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"no table"}"#;
            let answer = format!(
                "HTTP/1.1 400 Bad Request\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            socket.write_all(answer.as_bytes()).await.expect("an answer");
        });
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(https_client())
            .endpoint_url(endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "test"))
            .load()
            .await;
        let error = aws_sdk_dynamodb::Client::new(&config)
            .describe_table()
            .table_name("missing")
            .send()
            .await
            .expect_err("the listener answers 400");
        assert!(error.into_service_error().is_resource_not_found_exception());
        answered.await.expect("the listener saw the call");
    }
}
