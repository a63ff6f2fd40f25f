//! Serving HTTPS from certificate files, and the client address both
//! listeners report.
//!
//! TLS handshakes run in their own tasks and only finished connections are
//! handed to axum, so one slow or hostile client cannot stall `accept` for
//! everyone else.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// A handshake slower than this is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Finished handshakes waiting for axum to take them.
const READY_QUEUE: usize = 128;

/// Certificate chain and private key, PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert_chain: PathBuf,
    pub private_key: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("could not read the certificate chain {path}: {reason}")]
    Cert { path: PathBuf, reason: String },
    #[error("could not read the private key {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("the certificate and key do not make a TLS configuration: {0}")]
    Config(String),
}

/// The peer address, as the handlers see it through `ConnectInfo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

impl Connected<IncomingStream<'_, TcpListener>> for ClientAddr {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}

impl Connected<IncomingStream<'_, NoDelayListener>> for ClientAddr {
    fn connect_info(stream: IncomingStream<'_, NoDelayListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}

/// Plain TCP with Nagle's algorithm off on every accepted connection. Push
/// streams and long-polls write small answers at irregular times; with Nagle
/// on, a write waits for the peer's (delayed) ACK of the previous one, which
/// held some events back by milliseconds.
pub struct NoDelayListener(pub TcpListener);

impl Listener for NoDelayListener {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (stream, addr) = Listener::accept(&mut self.0).await;
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "could not turn Nagle off");
        }
        (stream, addr)
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Listener::local_addr(&self.0)
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for ClientAddr {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}

fn load(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let cert_err = |path: &Path, reason: String| TlsError::Cert { path: path.to_owned(), reason };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert_chain)
        .map_err(|e| cert_err(&files.cert_chain, e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| cert_err(&files.cert_chain, e.to_string()))?;
    if certs.is_empty() {
        return Err(cert_err(&files.cert_chain, "no certificate in the file".into()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.private_key)
        .map_err(|e| TlsError::Key { path: files.private_key.clone(), reason: e.to_string() })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A listener yielding finished TLS connections.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Load the certificate and start accepting on `tcp`.
    pub fn new(tcp: TcpListener, files: &TlsFiles) -> Result<TlsListener, TlsError> {
        let acceptor = TlsAcceptor::from(load(files)?);
        let local = tcp.local_addr().map_err(|e| TlsError::Config(e.to_string()))?;
        let (tx, ready) = mpsc::channel(READY_QUEUE);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(accepted) => {
                        // See NoDelayListener.
                        let _ = accepted.0.set_nodelay(true);
                        accepted
                    }
                    Err(e) => {
                        // Usually out of file descriptors: back off a little.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if tx.is_closed() {
                    break;
                }
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { ready, local })
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accept task only ends when this listener is dropped, so
            // this cannot happen while axum still polls it.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
