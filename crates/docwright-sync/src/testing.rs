//! Test support (feature `testing`): fake EspoCRM and xAI servers on 127.0.0.1 that speak the
//! real protocols, so the real clients run in tests — here and in the crates that drive a sync.
//!
//! - [`FakeEspo`] follows docs.espocrm.com, Development › API ("API Overview", "Search
//!   params", "Attachment"): records, listings, related records, attachment download and
//!   upload, `X-Api-Key` on every request, errors as a status with `X-Status-Reason`.
//! - [`FakeXai`] follows docs.x.ai, "Files" (Upload, Manage) and "Collections API" (Collection
//!   Management): two listeners, the API host for files and the management host for
//!   collection documents, each checking its own bearer key, errors as `{"code", "error"}`.
//!
//! Both record every request and can be scripted to fail, for retry tests. State lives behind
//! a mutex that is never held across an await.

// Test support: a fake that cannot start or whose state is poisoned fails the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod espo;
mod xai;

pub use espo::{Attachment, FakeEspo};
pub use xai::{FakeXai, StoredFile};

/// Serves `router` on a fresh port of 127.0.0.1 for the rest of the test's runtime; its URL.
async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    #[allow(clippy::disallowed_methods)] // The fake lives as long as the test's runtime.
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

/// `path?query` of a request, as the fakes record it.
fn path_and_query(uri: &axum::http::Uri) -> String {
    uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_else(|| uri.path().to_owned())
}
