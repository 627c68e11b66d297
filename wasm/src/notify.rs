//! Wakes every waiting operation when the store made progress.
//!
//! The store runs on one thread, so waiting is simple: an operation checks its condition,
//! and if it does not hold yet, awaits the next [`Notify::notify`] and checks again. The check
//! and the creation of the wait happen without an `await` between them, so no notification can
//! slip in unseen.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

#[derive(Debug, Default)]
pub(crate) struct Notify {
    epoch: Cell<u64>,
    wakers: RefCell<Vec<Waker>>,
}

impl Notify {
    /// Wakes every operation waiting now.
    pub(crate) fn notify(&self) {
        self.epoch.set(self.epoch.get().wrapping_add(1));
        let wakers = std::mem::take(&mut *self.wakers.borrow_mut());
        for w in wakers {
            w.wake();
        }
    }

    /// Completes at the next [`Notify::notify`] after this call.
    pub(crate) fn wait(&self) -> Wait<'_> {
        Wait {
            notify: self,
            epoch: self.epoch.get(),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Wait<'a> {
    notify: &'a Notify,
    epoch: u64,
}

impl Future for Wait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.notify.epoch.get() != self.epoch {
            return Poll::Ready(());
        }
        let mut wakers = self.notify.wakers.borrow_mut();
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_wait_completes_only_after_a_later_notify() {
        let n = Notify::default();
        n.notify();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        let mut cx = Context::from_waker(&waker);
        let mut wait = Box::pin(n.wait());
        assert_eq!(wait.as_mut().poll(&mut cx), Poll::Pending);
        assert_eq!(wait.as_mut().poll(&mut cx), Poll::Pending);
        assert_eq!(n.wakers.borrow().len(), 1, "one waker per waiter");
        n.notify();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(wait.as_mut().poll(&mut cx), Poll::Ready(()));
    }
}
