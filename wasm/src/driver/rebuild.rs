//! Rebuilding the engine in place after a full quota.
//!
//! IndexedDB aborts a transaction whole, so after a `QuotaExceededError` what it holds is
//! exactly what was acknowledged (and perhaps some writes whose acknowledgement was cut short).
//! The host reads it back with the same recovery as open, swaps the new engine in and goes on:
//! a reopen without a close. Reads wait for the rebuild instead of seeing refused writes in
//! memory; writes wait too, then go to the new engine.

use std::rc::Rc;

use super::Host;
use crate::error::Error;
use crate::recovery;

/// Why the engine is rebuilt from IndexedDB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rebuild {
    AfterQuota,
    /// `importGit` stored a history: the store's keys are now its tip's.
    AfterImport,
}

impl Rebuild {
    fn describe(self) -> &'static str {
        match self {
            Rebuild::AfterQuota => "after a full quota",
            Rebuild::AfterImport => "after importing a git history",
        }
    }
}

impl Host {
    /// Rebuilds the engine from IndexedDB after a full quota, or waits for the rebuild under
    /// way.
    pub(crate) async fn recover(self: &Rc<Self>) -> Result<(), Error> {
        let claimed = {
            let mut st = self.st.borrow_mut();
            if st.closed {
                return Err(Error::Closed);
            }
            let claimed = !st.recovering;
            st.recovering = true;
            claimed
        };
        if claimed {
            return self.rebuild(Rebuild::AfterQuota).await;
        }
        self.wait_until(|st| !st.recovering).await
    }

    /// The rebuild itself; `recovering` is set by whoever called it.
    pub(crate) async fn rebuild(self: &Rc<Self>, why: Rebuild) -> Result<(), Error> {
        let now = self.now();
        // IndexedDB runs this read after every transaction already started, so it sees all
        // that the old engine's transactions left.
        let result = recovery::recover(&self.db, &self.config, now).await;
        let outcome = {
            let mut st = self.st.borrow_mut();
            st.recovering = false;
            match result {
                Ok(r) => {
                    st.engine = r.engine;
                    st.wal = r.wal;
                    st.warm_bytes = r.warm_bytes;
                    st.report = r.report;
                    st.warm_in_flight = false;
                    st.tombstones = r.tombstones;
                    st.commit_in_flight = false;
                    st.generation += 1;
                    st.started = false;
                    st.failure = None;
                    if why == Rebuild::AfterQuota {
                        st.counters.quota_recoveries += 1;
                    }
                    Ok(())
                }
                Err(e) => {
                    st.failure = Some(format!("rebuilding the store {}: {e}", why.describe()));
                    Err(e)
                }
            }
        };
        self.drain();
        outcome
    }
}
