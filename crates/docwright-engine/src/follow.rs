//! Following stored events as they are written (workflows' and chat turns' streams): events
//! are rows in the database, numbered in their stream, so a reader on any replica resumes after
//! the last one it saw. [`follow`] reads a batch after a cursor, yields it, and when nothing new
//! is there waits for this process's signal (an event stored here) or the poll interval (one
//! stored by another replica), until the source says the stream has ended.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::Stream;
use tokio::sync::Notify;

use crate::Result;

/// Events in a read of at most this many.
pub(crate) const BATCH: u32 = 200;

/// The events after `after`, then each new one as it is stored, ending after the last event of
/// an ended stream or with the first error. `read(after)` answers a batch of at most [`BATCH`]
/// events and whether the stream has ended; `cursor(event)` is what the next read starts after.
pub(crate) fn follow<E, C, R, Fut>(
    signal: Arc<Notify>,
    poll: Duration,
    after: C,
    read: R,
    cursor: fn(&E) -> C,
) -> impl Stream<Item = Result<E>> + Send + 'static
where
    E: Send + 'static,
    C: Clone + Send + 'static,
    R: Fn(C) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(Vec<E>, bool)>> + Send,
{
    struct Follow<E, C, R> {
        signal: Arc<Notify>,
        read: R,
        after: C,
        pending: std::collections::VecDeque<E>,
        /// Nothing more will come: the stream ended and its last events are read, or a read
        /// failed.
        done: bool,
    }
    let start = Follow { signal, read, after, pending: Default::default(), done: false };
    futures_util::stream::unfold(start, move |mut f| async move {
        loop {
            if let Some(ev) = f.pending.pop_front() {
                f.after = cursor(&ev);
                return Some((Ok(ev), f));
            }
            if f.done {
                return None;
            }
            let signal = f.signal.clone();
            // Registered before reading, so an event stored meanwhile still wakes us.
            let stored = signal.notified();
            tokio::pin!(stored);
            stored.as_mut().enable();
            match (f.read)(f.after.clone()).await {
                Err(e) => {
                    f.done = true;
                    return Some((Err(e), f));
                }
                Ok((batch, ended)) => {
                    let full = batch.len() as u32 >= BATCH;
                    let empty = batch.is_empty();
                    f.pending.extend(batch);
                    f.done = ended && !full;
                    if empty && !f.done {
                        tokio::select! {
                            () = &mut stored => {}
                            () = tokio::time::sleep(poll) => {}
                        }
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};

    use futures_util::StreamExt as _;

    use super::*;

    #[tokio::test]
    async fn follows_stored_events_in_batches_wakes_on_the_signal_and_ends() {
        // Events are their own sequence numbers; the source ends when `ended` is set.
        let stored: Arc<Mutex<Vec<u32>>> = Arc::new(Mutex::new((1..=250).collect()));
        let ended = Arc::new(AtomicBool::new(false));
        let signal = Arc::new(Notify::new());
        let (source, over) = (stored.clone(), ended.clone());
        let read = move |after: u32| {
            let (source, over) = (source.clone(), over.clone());
            async move {
                let done = over.load(Ordering::SeqCst);
                let batch: Vec<u32> =
                    source.lock().unwrap().iter().copied().filter(|s| *s > after).take(BATCH as usize).collect();
                Ok((batch, done))
            }
        };
        let mut events = Box::pin(follow(signal.clone(), Duration::from_secs(60), 0u32, read, |e| *e));
        let mut seen = Vec::new();
        for _ in 0..250 {
            seen.push(events.next().await.unwrap().unwrap());
        }
        assert_eq!(seen, (1..=250).collect::<Vec<_>>(), "two batches, in order, none twice");
        // Nothing new: the stream waits; an event stored and signalled wakes it long before the
        // poll (a minute), and the end of the source ends the stream after its last event.
        let (writer, wake, over) = (stored.clone(), signal.clone(), ended.clone());
        let handle = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            writer.lock().unwrap().push(251);
            over.store(true, Ordering::SeqCst);
            wake.notify_waiters();
        });
        let next = tokio::time::timeout(Duration::from_secs(5), events.next()).await.expect("woken by the signal");
        handle.join().unwrap();
        assert_eq!(next.unwrap().unwrap(), 251);
        assert!(events.next().await.is_none(), "ended");
    }
}
