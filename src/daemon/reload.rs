//! SIGHUP: re-read and validate the config; build everything new first, then swap it in, so
//! a bad config (or a port that is taken) leaves the running one untouched.

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::Utc;
use sd_notify::NotifyState;
use tracing::{error, info, warn};

use super::arm::{self, build_sources};
use super::systemd::{notify, reloading};
use super::{web_state, AppError, Daemon};
use crate::config::Config;
use crate::notify::Notifier;
use crate::web::WebServer;

impl Daemon {
    /// SIGHUP: re-read and validate; apply everything but `state_dir`, or keep the running
    /// config if anything about the new one is wrong.
    pub(super) async fn reload(&mut self) {
        notify(&reloading());
        info!(config = %self.config_path.display(), "reloading the config");
        let ok = match Config::load(&self.config_path) {
            Err(e) => {
                error!(error = %e, "reload rejected: the new config is invalid; the running config stays");
                false
            }
            Ok(new) => match self.apply(new).await {
                Ok(()) => true,
                Err(e) => {
                    error!(error = %e, "reload rejected; the running config stays");
                    false
                }
            },
        };
        self.metrics.record_reload(ok);
        let status = self.status();
        notify(&[NotifyState::Ready, NotifyState::Status(&status)]);
    }

    async fn apply(&mut self, mut new: Config) -> Result<(), AppError> {
        if new.state_dir != self.config.state_dir {
            warn!(
                running = %self.config.state_dir.display(),
                configured = %new.state_dir.display(),
                "state_dir changed: that needs a restart; keeping the running one"
            );
            new.state_dir = self.config.state_dir.clone();
        }
        // Build everything first, so a failure leaves the running config untouched.
        let notifier = Arc::new(Notifier::new(&new)?);
        let built = build_sources(&new)?;
        let old_listen: Option<SocketAddr> = self.config.web.as_ref().map(|m| m.listen);
        let new_listen: Option<SocketAddr> = new.web.as_ref().map(|m| m.listen);
        let mut new_server = None;
        if new_listen != old_listen {
            if let Some(addr) = new_listen {
                let web = match &self.web {
                    Some(web) => web.clone(),
                    None => web_state(&self.metrics, &self.store, &self.shared_config)?,
                };
                new_server = Some(WebServer::start(addr, web.clone()).await?);
                self.web = Some(web);
            }
        }

        // Commit.
        if new_listen != old_listen {
            if let Some(old) = self.server.take() {
                old.stop().await;
                info!(addr = ?old_listen, "web listener closed");
            }
            self.server = new_server;
        }
        let now = Utc::now();
        let sources = arm::on_reload(&new, &self.store, &self.sources, built, now)?;
        self.sources = sources;
        self.notifier = notifier;
        self.metrics.declare(&new);
        self.config = Arc::new(new);
        self.expect_all(now);
        if let Ok(mut shared) = self.shared_config.write() {
            *shared = self.config.clone();
        }
        info!(
            sources = self.config.sources.len(),
            series = self.config.series.len(),
            rules = self.config.rules.len(),
            receivers = self.config.receivers.len(),
            "config reloaded"
        );
        for w in &self.config.warnings {
            warn!(warning = %w, "config warning");
        }
        Ok(())
    }
}
