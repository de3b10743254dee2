//! How a command reaches the Management Node: the flags and the set-up shared by `forja pexip apply` and
//! `forja licence request|apply`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::error::{Exit, fail};
use crate::pexip::client::{Client, parse_ca, read_ca, require_https};
use crate::profile::secrets::{SecretRef, Secrets};

/// The Management Node, its trust anchors and the web administrator's credentials.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// The Management Node's base URL, e.g. https://pexmgr.sede.example (https only).
    #[arg(long)]
    pub manager: String,
    /// CA certificate(s), PEM: the only trust anchors for the manager's certificate.
    #[arg(long)]
    pub ca: PathBuf,
    /// The secrets file (mode 0600): the web administrator's password, and the values a plan refers to.
    #[arg(long)]
    pub secrets: PathBuf,
    /// Accept a secrets file marked test-values-only (lab managers only).
    #[arg(long)]
    pub allow_test_secrets: bool,
    /// Web administrator user for HTTP basic authentication.
    #[arg(long, default_value = "admin")]
    pub user: String,
    /// Name of the secret that holds that user's password.
    #[arg(long, default_value = "pexip-web-admin")]
    pub password_secret: String,
    /// Seconds allowed for each HTTPS request.
    #[arg(long, default_value_t = 60)]
    pub request_timeout: u64,
}

/// A client for the manager, the secrets it was made with, and the CA file's bytes (read once).
#[derive(Debug)]
pub struct Connection {
    pub client: Client,
    pub secrets: Secrets,
    pub ca_pem: Vec<u8>,
}

impl ConnectArgs {
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout)
    }

    pub fn connect(&self) -> anyhow::Result<Connection> {
        require_https(&self.manager, "--manager")?;
        let secrets = Secrets::load(&self.secrets, self.allow_test_secrets)?;
        let pw = secrets
            .get(&SecretRef {
                secret: self.password_secret.clone(),
            })
            .ok_or_else(|| {
                fail(
                    Exit::Input,
                    format!(
                        "{}: no secret `{}` for the web administrator's password (--password-secret)",
                        self.secrets.display(),
                        self.password_secret
                    ),
                )
            })?;
        let ca_pem = read_ca(&self.ca)?;
        let client = Client::new(
            parse_ca(&ca_pem, &self.ca)?,
            self.timeout(),
            Some((&self.user, pw)),
            &secrets,
        );
        Ok(Connection {
            client,
            secrets,
            ca_pem,
        })
    }
}
