//! Connection settings of a Postgres database: the URL parsed once, the password kept apart
//! (so the URL can be shown and handed to `pg_dump` without it), and TLS set up the way
//! libpq's `sslmode` means it.
//!
//! `sslmode` follows libpq: `disable` (plain), `prefer` (TLS if offered, no certificate check),
//! `require` (TLS, no certificate check — what Supabase's connection strings ask for, since its
//! certificates come from Supabase's own CA), `verify-ca` (certificate chain checked, host name
//! not) and `verify-full` (both). For the verify modes the roots are `sslrootcert` when given,
//! else the system's trust store.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio_postgres::config::SslMode as WireSslMode;
use url::Url;

use crate::error::{Error, Result};

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// No TLS.
    Disable,
    /// TLS when the server offers it; the certificate is not checked.
    Prefer,
    /// TLS always; the certificate is not checked.
    Require,
    /// TLS; the certificate chain is checked, the host name is not.
    VerifyCa,
    /// TLS; the certificate chain and the host name are checked.
    VerifyFull,
}

impl SslMode {
    fn parse(text: &str) -> Result<SslMode> {
        Ok(match text {
            "disable" => SslMode::Disable,
            "allow" | "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(Error::usage(format!(
                    "sslmode \"{other}\" is not one of disable, allow, prefer, require, verify-ca, verify-full"
                )))
            }
        })
    }
}

/// A parsed connection URL. Never holds the password in its displayable parts.
#[derive(Clone)]
pub struct ConnSpec {
    /// The URL without the password.
    url: Url,
    password: Option<String>,
    ssl: SslMode,
    root_cert: Option<PathBuf>,
}

impl std::fmt::Debug for ConnSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ConnSpec({})", self.display())
    }
}

/// Query parameters this tool understands in a connection URL.
const KNOWN_PARAMS: &[&str] = &[
    "sslmode",
    "sslrootcert",
    "connect_timeout",
    "application_name",
    "options",
];

impl ConnSpec {
    /// Parses a `postgres://user:password@host:port/database?sslmode=...` URL.
    pub fn parse(text: &str) -> Result<ConnSpec> {
        let hint = "write it as postgres://USER:PASSWORD@HOST:PORT/DATABASE?sslmode=require";
        let mut url = Url::parse(text.trim()).map_err(|e| {
            Error::usage(format!("the database URL is not a valid URL: {e}")).with_hint(hint)
        })?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(Error::usage(format!(
                "the database URL has scheme \"{}\"; expected postgres:// or postgresql://",
                url.scheme()
            ))
            .with_hint(hint));
        }
        if url.host_str().unwrap_or("").is_empty() {
            return Err(Error::usage("the database URL names no host").with_hint(hint));
        }
        if url.username().is_empty() {
            return Err(Error::usage("the database URL names no user").with_hint(hint));
        }
        let password = url
            .password()
            .map(percent_decode)
            .transpose()?
            .filter(|p| !p.is_empty());
        url.set_password(None).expect("postgres URLs have a host");
        let mut ssl = SslMode::Prefer;
        let mut root_cert = None;
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "sslmode" => ssl = SslMode::parse(&value)?,
                "sslrootcert" => root_cert = Some(PathBuf::from(value.as_ref())),
                k if KNOWN_PARAMS.contains(&k) => {}
                other => {
                    return Err(Error::usage(format!(
                        "the database URL has an unknown parameter \"{other}\" (known: {})",
                        KNOWN_PARAMS.join(", ")
                    )))
                }
            }
        }
        let spec = ConnSpec {
            url,
            password,
            ssl,
            root_cert,
        };
        spec.database()?;
        Ok(spec)
    }

    /// The URL without the password: safe to show and to pass to the client tools.
    pub fn display(&self) -> String {
        self.url.to_string()
    }

    /// The database name.
    pub fn database(&self) -> Result<String> {
        let path = self.url.path().trim_start_matches('/');
        let name = percent_decode(path)?;
        if name.is_empty() {
            return Err(Error::usage(format!(
                "the database URL {} names no database",
                self.display()
            ))
            .with_hint("add the database after the host, e.g. .../postgres"));
        }
        Ok(name)
    }

    /// The user name.
    pub fn user(&self) -> Result<String> {
        percent_decode(self.url.username())
    }

    /// The password, if the URL had one.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// The same server and credentials, another database.
    pub fn with_database(&self, database: &str) -> ConnSpec {
        let mut spec = self.clone();
        let encoded: String = url::form_urlencoded::byte_serialize(database.as_bytes()).collect();
        spec.url
            .set_path(&format!("/{}", encoded.replace('+', "%20")));
        spec
    }

    /// Environment for the client tools (`pg_dump`, `psql`, ...): the password travels here,
    /// never on the command line where other users could see it.
    pub fn tool_env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("PGAPPNAME".to_string(), "runbook".to_string()),
            ("PGCONNECT_TIMEOUT".to_string(), "15".to_string()),
        ];
        if let Some(password) = &self.password {
            env.push(("PGPASSWORD".to_string(), password.clone()));
        }
        env
    }

    /// A `tokio-postgres` configuration.
    fn config(&self) -> Result<tokio_postgres::Config> {
        let mut config = tokio_postgres::Config::new();
        config
            .host(
                self.url
                    .host_str()
                    .unwrap_or_default()
                    .trim_matches(['[', ']']),
            )
            .port(self.url.port().unwrap_or(5432))
            .user(self.user()?)
            .dbname(self.database()?)
            .application_name("runbook")
            .connect_timeout(CONNECT_TIMEOUT)
            .ssl_mode(match self.ssl {
                SslMode::Disable => WireSslMode::Disable,
                SslMode::Prefer => WireSslMode::Prefer,
                _ => WireSslMode::Require,
            });
        if let Some(password) = &self.password {
            config.password(password);
        }
        for (key, value) in self.url.query_pairs() {
            match key.as_ref() {
                "application_name" => {
                    config.application_name(value.as_ref());
                }
                "options" => {
                    config.options(value.as_ref());
                }
                "connect_timeout" => {
                    let seconds: u64 = value.parse().map_err(|_| {
                        Error::usage(format!("connect_timeout \"{value}\" is not whole seconds"))
                    })?;
                    config.connect_timeout(Duration::from_secs(seconds.max(1)));
                }
                _ => {}
            }
        }
        Ok(config)
    }

    /// Opens a connection; its driver task runs on the host runtime until the client drops.
    pub async fn connect(&self) -> Result<tokio_postgres::Client> {
        let config = self.config()?;
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(self.tls_config()?);
        let (client, connection) = config
            .connect(tls)
            .await
            .map_err(|e| connect_error(self, &e))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(client)
    }

    fn tls_config(&self) -> Result<rustls::ClientConfig> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::failed(format!("TLS setup failed: {e}")))?;
        let verifier: Arc<dyn ServerCertVerifier> = match self.ssl {
            SslMode::Disable | SslMode::Prefer | SslMode::Require => {
                Arc::new(NoVerification(provider))
            }
            SslMode::VerifyCa | SslMode::VerifyFull => {
                let inner = self.chain_verifier(provider)?;
                if self.ssl == SslMode::VerifyCa {
                    Arc::new(ChainOnly(inner))
                } else {
                    inner
                }
            }
        };
        Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth())
    }

    fn chain_verifier(
        &self,
        provider: Arc<rustls::crypto::CryptoProvider>,
    ) -> Result<Arc<dyn ServerCertVerifier>> {
        let Some(path) = &self.root_cert else {
            return Ok(Arc::new(
                rustls_platform_verifier::Verifier::new(provider).map_err(|e| {
                    Error::failed(format!(
                        "cannot load the system's trusted certificates: {e}"
                    ))
                    .with_hint("give the server's CA with sslrootcert=/path/to/ca.pem")
                })?,
            ));
        };
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        let certs = CertificateDer::pem_file_iter(path).map_err(|e| {
            Error::failed(format!("cannot read sslrootcert {}: {e}", path.display()))
        })?;
        for cert in certs {
            let cert = cert.map_err(|e| {
                Error::failed(format!("sslrootcert {} is not PEM: {e}", path.display()))
            })?;
            roots
                .add(cert)
                .map_err(|e| Error::failed(format!("sslrootcert {}: {e}", path.display())))?;
        }
        let verifier =
            rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| Error::failed(format!("sslrootcert {}: {e}", path.display())))?;
        Ok(verifier)
    }
}

/// Decodes `%xx` escapes of a URL part.
fn percent_decode(text: &str) -> Result<String> {
    url::form_urlencoded::parse(format!("x={}", text.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| Error::usage("the database URL has a malformed part"))
}

/// A connection failure in words a person can act on; never contains the password.
pub fn connect_error(spec: &ConnSpec, error: &tokio_postgres::Error) -> Error {
    let target = spec.display();
    if let Some(db) = error.as_db_error() {
        let hint = match db.code().code() {
            "28P01" | "28000" => "check the user and password in the database URL secret",
            "3D000" => "check the database name in the URL, or create the database",
            "53300" => "the server has no free connections; retry later or use the pooler",
            _ => "check the database URL and that the server accepts this user",
        };
        return Error::failed(format!("cannot connect to {target}: {}", db.message()))
            .with_hint(hint);
    }
    let detail = crate::error::error_chain(error);
    Error::failed(format!("cannot connect to {target}: {detail}")).with_hint(
        "check that the server is running and reachable, and the host, port and sslmode in the URL",
    )
}

/// Accepts any certificate: libpq's `prefer` and `require` encrypt without checking who answers.
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must check out; a host-name mismatch alone is accepted.
#[derive(Debug)]
struct ChainOnly(Arc<dyn ServerCertVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_kept_apart_from_the_url() {
        let spec =
            ConnSpec::parse("postgres://app:s%40cr%2Bet@db.example:6543/postgres?sslmode=require")
                .unwrap();
        assert_eq!(spec.password(), Some("s@cr+et"));
        assert_eq!(
            spec.display(),
            "postgres://app@db.example:6543/postgres?sslmode=require"
        );
        assert!(!format!("{spec:?}").contains("s@cr"));
        assert_eq!(spec.database().unwrap(), "postgres");
        assert_eq!(
            spec.with_database("scratch db").database().unwrap(),
            "scratch db"
        );
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        for (url, says) in [
            ("mysql://a@b/c", "scheme"),
            ("postgres://a@b:5432/c?sslmode=maybe", "sslmode"),
            (
                "postgres://a@b:5432/c?sslcert=x",
                "unknown parameter \"sslcert\"",
            ),
            ("postgres://a@b:5432/", "names no database"),
            ("postgres://b:5432/c", "names no user"),
        ] {
            let e = ConnSpec::parse(url).unwrap_err();
            assert!(e.message().contains(says), "{url}: {}", e.message());
        }
    }
}
