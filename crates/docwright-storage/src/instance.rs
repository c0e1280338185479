//! Values generated once per installation and shared by every replica on the same database.

use docwright_core::time::Timestamp;
use sqlx::Row as _;

use crate::{Db, Result};

impl Db {
    /// Returns the stored value for `key`, storing `candidate` first if there is none. When two
    /// replicas race, both get the value of whichever insert won.
    pub async fn instance_value_or_insert(&self, key: &str, candidate: &str) -> Result<String> {
        sqlx::query(
            "INSERT INTO instance_settings (key, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key.to_owned())
        .bind(candidate.to_owned())
        .bind(Timestamp::now().millis())
        .execute(self.pool())
        .await?;
        let row = sqlx::query("SELECT value FROM instance_settings WHERE key = $1")
            .bind(key.to_owned())
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get("value")?)
    }
}
