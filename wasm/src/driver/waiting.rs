//! Operations waiting on the store: for a write to reach its level, for backpressure to ease,
//! for a rebuild to finish.

use std::rc::Rc;

use thermocline_core::io::FailureClass;
use thermocline_core::{Engine, Millis, Ticket, WriteError};

use super::{Host, State};
use crate::error::Error;

impl Host {
    /// Waits while the engine is being rebuilt: reads then see what IndexedDB holds.
    pub(crate) async fn ready_for_read(&self) -> Result<(), Error> {
        loop {
            {
                let st = self.st.borrow();
                if st.closed {
                    return Err(Error::Closed);
                }
                if !st.recovering {
                    return Ok(());
                }
            }
            self.progress.wait().await;
        }
    }

    /// Waits until a write can be applied: not while the engine is being rebuilt, and after
    /// rebuilding it if a full quota poisoned it.
    pub(crate) async fn ready_for_write(self: &Rc<Self>) -> Result<(), Error> {
        let mut rebuilt = false;
        loop {
            let (closed, recovering, out_of_space) = {
                let st = self.st.borrow();
                let out_of_space = matches!(st.engine.poisoned(), Some((_, FailureClass::NoSpace)));
                (st.closed, st.recovering, out_of_space)
            };
            if closed {
                return Err(Error::Closed);
            }
            if recovering {
                self.progress.wait().await;
                continue;
            }
            if out_of_space && !rebuilt {
                rebuilt = true;
                self.recover().await?;
                continue;
            }
            return Ok(());
        }
    }

    /// Applies a write, waiting out backpressure, then waits until it reached its level.
    pub(crate) async fn write(
        self: &Rc<Self>,
        mut op: impl FnMut(&mut Engine, Millis) -> Result<Ticket, WriteError>,
    ) -> Result<(), Error> {
        loop {
            self.ready_for_write().await?;
            let applied = {
                let mut st = self.st.borrow_mut();
                let now = self.now();
                op(&mut st.engine, now).map(|t| (t, st.generation))
            };
            match applied {
                Ok((ticket, generation)) => {
                    self.schedule_drain();
                    return self.wait(generation, ticket).await;
                }
                Err(WriteError::Backpressure { .. }) => {
                    // The engine asked for a flush: wait for one to complete (not merely for
                    // any progress, or this would spin without letting IndexedDB answer).
                    let (before, generation) = {
                        let st = self.st.borrow();
                        (st.warm_flushes, st.generation)
                    };
                    self.schedule_drain();
                    self.wait_until(|st| st.warm_flushes > before || st.generation != generation)
                        .await?;
                }
                Err(e) => return Err(self.write_error(e)),
            }
        }
    }

    /// Waits until `ticket` of engine `generation` reached its level.
    async fn wait(&self, generation: u64, ticket: Ticket) -> Result<(), Error> {
        loop {
            {
                let st = self.st.borrow();
                if st.generation != generation {
                    // The engine that took the write was replaced after a full quota before
                    // the write was acknowledged.
                    return Err(Error::QuotaExceeded {
                        detail: st.failure.clone().unwrap_or_else(|| "no detail".into()),
                    });
                }
                match st.engine.reached(ticket) {
                    Ok(true) => return Ok(()),
                    Ok(false) => {}
                    Err(e) => {
                        drop(st);
                        return Err(self.write_error(e));
                    }
                }
            }
            self.progress.wait().await;
        }
    }

    /// Waits until `done` holds, or the engine is poisoned (and not being rebuilt).
    pub(crate) async fn wait_until(&self, done: impl Fn(&State) -> bool) -> Result<(), Error> {
        loop {
            {
                let st = self.st.borrow();
                if done(&st) {
                    return Ok(());
                }
                if !st.recovering
                    && let Some((op, class)) = st.engine.poisoned()
                {
                    drop(st);
                    return Err(self.write_error(WriteError::Poisoned { op, class }));
                }
            }
            self.progress.wait().await;
        }
    }
}
