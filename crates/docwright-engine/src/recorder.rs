//! Stat records (SPEC A5) off the request path: once the server starts the writer, an AI call
//! hands its record to a bounded queue and answers; the writer appends what has queued up in
//! one transaction. Without a running writer (tests of the engine alone, or after shutdown
//! began), and whenever the queue is full, the call appends its record itself — a record is
//! never dropped for want of room.
//!
//! The same queue carries the ledger rows of `unlimited` accounts (internal tenants: nothing is
//! reserved, so nothing waits for their booking). Balances and reserved money of every other
//! billing model never go through it.
//!
//! It also carries the release of a reservation whose call was dropped before it ended (a
//! client that went away, a job stopped at its time limit or at shutdown): `billing::Held`
//! hands its reservation here when it is dropped unsettled, so money is not held until the
//! reservation expires.
//!
//! At shutdown the writer drains the queue before it ends. What is still queued when the
//! process is killed is lost: stat records, and bookings of `unlimited` accounts (and releases,
//! which the billing reconciler then makes for the dead process).

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use docwright_core::id::TenantId;
use docwright_storage::Db;
use docwright_storage::billing::NewEntry;
use docwright_storage::stats::AiStat;
use tokio::sync::{mpsc, oneshot};

use crate::{Engine, Result};

/// Records waiting at most; beyond, calls write their own.
const QUEUE: usize = 8_192;
/// Records per transaction at most.
const BATCH: usize = 512;
/// Tries of one batch before it is given up (logged with its size).
const TRIES: u32 = 5;

enum Msg {
    Stat(Box<AiStat>),
    /// A ledger row of an `unlimited` account (nothing to protect, so not on the call's path).
    Booking(Box<Booking>),
    /// A reservation to release without a charge.
    Release(Box<Release>),
    /// Answered once everything queued before it is written.
    Flush(oneshot::Sender<()>),
}

pub(crate) struct Booking {
    pub(crate) account_id: String,
    pub(crate) tenant: TenantId,
    pub(crate) entry: NewEntry,
}

pub(crate) struct Release {
    reservation: String,
    account_id: String,
    tenant: TenantId,
}

/// Releases reservations of dropped calls through the writer (see the module docs).
#[derive(Debug, Clone)]
pub(crate) struct Releaser(mpsc::Sender<Msg>);

impl Releaser {
    /// Queues the release; when the queue is full or closed the reservation stays until it
    /// expires or the reconciler takes it.
    pub(crate) fn release(&self, reservation: String, account_id: String, tenant: TenantId) {
        let m = Msg::Release(Box::new(Release { reservation, account_id, tenant }));
        if self.0.try_send(m).is_err() {
            tracing::warn!("a dropped call's reservation could not be queued for release; it expires on its own");
        }
    }
}

/// The queue's sending side, set once the writer runs.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    tx: OnceLock<mpsc::Sender<Msg>>,
}

impl Engine {
    /// What releases the reservations of dropped calls, once the writer runs.
    pub(crate) fn releaser(&self) -> Option<Releaser> {
        self.recorder.tx.get().cloned().map(Releaser)
    }

    /// Queues `m` for the writer; answers it back when there is no running writer, or its
    /// queue is full or closed by shutdown (the caller then writes it itself).
    fn to_writer(&self, m: Msg) -> Option<Msg> {
        match self.recorder.tx.get() {
            Some(tx) => tx.try_send(m).err().map(mpsc::error::TrySendError::into_inner),
            None => Some(m),
        }
    }

    /// Appends a stat record: queued for the writer when it runs, else written now.
    pub(crate) async fn append_stat(&self, stat: AiStat) -> Result<()> {
        if let Some(Msg::Stat(s)) = self.to_writer(Msg::Stat(Box::new(stat))) {
            self.db.insert_ai_stat(&s).await?;
        }
        Ok(())
    }

    /// Books a ledger row of an account without a floor (`unlimited`): queued like stats when
    /// the writer runs, else written now.
    pub(crate) async fn append_booking(&self, booking: Booking) -> Result<()> {
        if let Some(Msg::Booking(b)) = self.to_writer(Msg::Booking(Box::new(booking))) {
            self.db.post_entry(&b.account_id, b.tenant, &b.entry).await?;
        }
        Ok(())
    }

    /// Starts queueing stat records and answers the writer, to run as an owned background
    /// task until `stop` resolves (then it drains the queue and ends). Only the first call
    /// starts a writer; later calls answer a writer with nothing to do.
    pub fn stat_writer<S>(&self, stop: S) -> impl Future<Output = ()> + Send + use<S>
    where
        S: Future<Output = ()> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(QUEUE);
        let rx = self.recorder.tx.set(tx).is_ok().then_some(rx);
        let db = self.db.clone();
        async move {
            if let Some(rx) = rx {
                write_loop(db, rx, stop).await;
            }
        }
    }

    /// Waits until every stat record queued so far is written (tests, reports).
    pub async fn flush_stats(&self) {
        let Some(tx) = self.recorder.tx.get() else { return };
        let (done, wait) = oneshot::channel();
        if tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

async fn write_loop(db: Db, mut rx: mpsc::Receiver<Msg>, stop: impl Future<Output = ()>) {
    tokio::pin!(stop);
    loop {
        let first = tokio::select! {
            m = rx.recv() => m,
            () = &mut stop => None,
        };
        let Some(first) = first else { break };
        let mut batch = Batch::default();
        batch.take(first);
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(m) => batch.take(m),
                Err(_) => break,
            }
        }
        batch.write(&db).await;
    }
    // Shutdown: no new records queue (callers write their own), the queued ones are written.
    rx.close();
    let mut batch = Batch::default();
    while let Ok(m) = rx.try_recv() {
        batch.take(m);
        if batch.len() >= BATCH {
            std::mem::take(&mut batch).write(&db).await;
        }
    }
    batch.write(&db).await;
}

#[derive(Default)]
struct Batch {
    stats: Vec<AiStat>,
    bookings: Vec<Booking>,
    releases: Vec<Release>,
    flushes: Vec<oneshot::Sender<()>>,
}

impl Batch {
    fn len(&self) -> usize {
        self.stats.len() + self.bookings.len() + self.releases.len()
    }
}

impl Batch {
    fn take(&mut self, m: Msg) {
        match m {
            Msg::Stat(s) => self.stats.push(*s),
            Msg::Booking(b) => self.bookings.push(*b),
            Msg::Release(r) => self.releases.push(*r),
            Msg::Flush(f) => self.flushes.push(f),
        }
    }

    async fn write(self, db: &Db) {
        if !self.stats.is_empty() {
            with_retries("stat records", self.stats.len(), || db.insert_ai_stats(&self.stats)).await;
        }
        if !self.bookings.is_empty() {
            let rows: Vec<(&str, TenantId, &NewEntry)> =
                self.bookings.iter().map(|b| (b.account_id.as_str(), b.tenant, &b.entry)).collect();
            with_retries("unlimited-account bookings", rows.len(), || db.post_entries(&rows)).await;
        }
        for r in &self.releases {
            let release = || async { db.settle(Some(&r.reservation), &r.account_id, r.tenant, None).await.map(|_| ()) };
            with_retries("a reservation release", 1, release).await;
        }
        for f in self.flushes {
            let _ = f.send(());
        }
    }
}

/// Runs `write` up to [`TRIES`] times with doubling pauses; logs what is lost when it never
/// succeeds.
async fn with_retries<F, Fut>(what: &str, count: usize, mut write: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = docwright_storage::Result<()>>,
{
    let mut tries = 0;
    while let Err(e) = write().await {
        tries += 1;
        if tries >= TRIES {
            tracing::error!(error = %e, count, "{what} could not be written: lost");
            return;
        }
        tracing::warn!(error = %e, tries, "writing {what} failed; retrying");
        tokio::time::sleep(Duration::from_millis(100) * 2u32.pow(tries)).await;
    }
}
