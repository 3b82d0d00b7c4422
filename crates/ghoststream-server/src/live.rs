//! Live ingest in the application API: stream keys and live streams, for the HTTP routes
//! and the desktop app alike.

use crate::error::ApiResult;
use crate::App;
use ghoststream_types::{IngestKey, IngestKeyRequest, IngestOverview};

impl App {
    /// The host publishers should use: this machine's first LAN address, else the host
    /// the caller reached us by.
    fn publish_host(&self, reached_as: &str) -> String {
        crate::net::urls(&self.engine.config().server.host, self.port())
            .into_iter()
            .next()
            .filter(|u| !u.contains("127.0.0.1"))
            .unwrap_or_else(|| reached_as.to_string())
    }

    /// Listeners and live streams. `with_keys`: the caller may see stream keys.
    pub fn ingest_status(&self, with_keys: bool, reached_as: &str) -> IngestOverview {
        let host = self.publish_host(reached_as);
        self.engine.ingest().overview(with_keys, &host)
    }

    pub fn ingest_keys(&self) -> Vec<IngestKey> {
        self.engine.ingest().keys()
    }

    pub fn create_ingest_key(&self, request: IngestKeyRequest) -> ApiResult<IngestKey> {
        Ok(self.engine.ingest().create_key(request)?)
    }

    pub fn rename_ingest_key(&self, key: &str, request: IngestKeyRequest) -> ApiResult<IngestKey> {
        let name = request.name.ok_or_else(|| {
            crate::error::ApiError::Invalid(vec![crate::error::field(
                &["body", "name"],
                "name is required",
                "missing",
            )])
        })?;
        Ok(self.engine.ingest().rename_key(key, name)?)
    }

    /// Revokes a key (its live publisher is cut off); the keys left.
    pub async fn revoke_ingest_key(&self, key: &str) -> ApiResult<Vec<IngestKey>> {
        self.engine.ingest().revoke_key(key).await?;
        Ok(self.ingest_keys())
    }

    /// Disconnects the publisher live on `key` and finishes its recording.
    pub async fn stop_live(&self, key: &str, reached_as: &str) -> ApiResult<IngestOverview> {
        self.engine.ingest().stop_stream(key).await?;
        Ok(self.ingest_status(true, reached_as))
    }
}
