//! Building the app from its settings and serving it: the HTTP server, the ticket deliverer
//! and the purge of old rows.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use actix_web::{App, HttpServer, web};
use verity_core::Clock;

use crate::app::{AppError, Helpdesk};
use crate::config::DirectoryConfig;
use crate::directory::Directory;
use crate::graph::GraphDirectory;
use crate::ldap::LdapDirectory;
use crate::oidc::OidcClient;
use crate::settings::Settings;
use crate::store::Store;
use crate::verity_api::VerityClient;
use crate::webhook::{WebhookSender, deliver_due, http_client};

/// The directory the settings name.
pub fn directory(
    config: &DirectoryConfig,
    clock: Arc<dyn Clock>,
) -> Result<Arc<dyn Directory>, AppError> {
    Ok(match config {
        DirectoryConfig::Ldap(c) => Arc::new(LdapDirectory::new(c.clone())?),
        DirectoryConfig::Graph(c) => Arc::new(GraphDirectory::new(c.clone(), clock)?),
    })
}

/// The helpdesk with its directory, Verity client and database.
pub async fn build(settings: Settings, clock: Arc<dyn Clock>) -> Result<Helpdesk, AppError> {
    let directory = directory(&settings.directory, clock.clone())?;
    let verity = VerityClient::new(settings.verity.clone(), clock.clone())?;
    let store = Store::open(&settings.database).await?;
    let oidc = match &settings.oidc {
        Some(c) => Some(Arc::new(OidcClient::new(c.clone(), clock.clone())?)),
        None => None,
    };
    Ok(Helpdesk {
        oidc,
        settings: Arc::new(settings),
        directory,
        verity,
        store,
        clock,
    })
}

/// Serves `helpdesk` on `listener` and starts its background work (ticket delivery every
/// second when a webhook is configured; a purge of old rows every ten minutes).
pub fn serve(helpdesk: Helpdesk, listener: TcpListener) -> std::io::Result<actix_web::dev::Server> {
    if let Some(config) = helpdesk.settings.webhook.clone() {
        let sender = http_client(&config)
            .and_then(|http| WebhookSender::new(config.clone(), http))
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let hd = helpdesk.clone();
        tokio::spawn(async move {
            loop {
                let round = deliver_due(&hd.store, &sender, hd.clock.now()).await;
                tracing::debug!(?round, "ticket delivery round");
                tokio::time::sleep(StdDuration::from_secs(1)).await;
            }
        });
    }
    let hd = helpdesk.clone();
    tokio::spawn(async move {
        loop {
            if let Err(e) = hd
                .store
                .purge(hd.clock.now(), chrono::Duration::days(30))
                .await
            {
                tracing::warn!(error = %e, "purge of old rows failed");
            }
            tokio::time::sleep(StdDuration::from_secs(600)).await;
        }
    });
    let data = web::Data::new(helpdesk);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::FormConfig::default().limit(16 * 1024))
            .app_data(web::JsonConfig::default().limit(4 * 1024 * 1024))
            .configure(crate::web::configure)
    })
    .workers(2)
    .listen(listener)?
    .run();
    Ok(server)
}
