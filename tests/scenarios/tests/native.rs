//! The shared scenarios on the native store: real files in a temporary directory.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use thermocline::{Batch, Error, ManualClock, Options};
use thermocline_core::SyncLevel;
use thermocline_scenarios::{ErrorKind, Host, KeyInfo, Op, Setup, Stats, Store, StoreError};

/// Runs a scenario. The native store is synchronous, so its futures are ready at once.
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("a native scenario waited, but the native store never does"),
    }
}

struct NativeHost {
    dir: tempfile::TempDir,
    clock: Arc<ManualClock>,
}

impl NativeHost {
    fn new() -> NativeHost {
        NativeHost {
            dir: tempfile::tempdir().expect("temporary directory"),
            clock: ManualClock::new(1_000_000),
        }
    }
}

struct NativeStore(thermocline::Store);

fn error(e: Error) -> StoreError {
    let kind = match &e {
        Error::InvalidKey(_) => ErrorKind::InvalidKey,
        Error::ValueTooLarge { .. } => ErrorKind::ValueTooLarge,
        Error::LevelUnavailable { .. } => ErrorKind::LevelUnavailable,
        Error::Locked { .. } => ErrorKind::Locked,
        _ => ErrorKind::Other,
    };
    StoreError {
        kind,
        message: e.to_string(),
    }
}

impl Host for NativeHost {
    type Store = NativeStore;

    async fn open(&mut self, setup: &Setup) -> Result<NativeStore, StoreError> {
        // The defaults, as the browser's: with the git cold tier.
        let mut options = Options::default().clock(self.clock.clone());
        setup.apply(&mut options.config);
        thermocline::Store::open(self.dir.path(), options)
            .map(NativeStore)
            .map_err(error)
    }

    fn advance_clock(&self, ms: u64) {
        self.clock.advance_ms(ms);
    }
}

impl Store for NativeStore {
    async fn put(&self, key: &str, value: &[u8], level: SyncLevel) -> Result<(), StoreError> {
        self.0.put_with(key, value, level).map_err(error)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.0
            .get(key)
            .map(|v| v.map(|v| v.to_vec()))
            .map_err(error)
    }

    async fn delete(&self, key: &str, level: SyncLevel) -> Result<(), StoreError> {
        self.0.delete_with(key, level).map_err(error)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.0.list(prefix).map_err(error)
    }

    async fn commit(&self, ops: &[Op<'_>], level: SyncLevel) -> Result<(), StoreError> {
        let mut batch = Batch::new();
        for op in ops {
            match *op {
                Op::Put(k, v) => batch.put(k, v).map_err(|e| error(e.into()))?,
                Op::Delete(k) => batch.delete(k).map_err(|e| error(e.into()))?,
            };
        }
        self.0.commit_with(batch, level).map_err(error)
    }

    async fn sync(&self, level: SyncLevel) -> Result<(), StoreError> {
        self.0.sync(level).map_err(error)
    }

    async fn put_json(&self, key: &str, value: &serde_json::Value) -> Result<(), StoreError> {
        self.0.put_json(key, value).map_err(error)
    }

    async fn get_json(&self, key: &str) -> Result<Option<serde_json::Value>, StoreError> {
        self.0.get_json(key).map_err(error)
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.0.flush().map_err(error)
    }

    async fn run_timers(&self) -> Result<(), StoreError> {
        self.0.run_timers().map_err(error)
    }

    async fn stats(&self) -> Stats {
        self.0.stats().engine
    }

    fn key_info(&self, key: &str) -> Option<KeyInfo> {
        self.0.key_info(key)
    }

    async fn history(
        &self,
        key: &str,
    ) -> Result<Vec<thermocline_scenarios::Version>, thermocline_scenarios::StoreError> {
        self.0.history(key).map_err(error)
    }

    async fn get_at(
        &self,
        key: &str,
        rev: &str,
    ) -> Result<Option<Vec<u8>>, thermocline_scenarios::StoreError> {
        Ok(self.0.get_at(key, rev).map_err(error)?.map(|v| v.to_vec()))
    }

    async fn log(
        &self,
        n: usize,
    ) -> Result<Vec<thermocline_scenarios::LogEntry>, thermocline_scenarios::StoreError> {
        self.0.log(n).map_err(error)
    }

    async fn close(self) -> Result<(), StoreError> {
        self.0.close().map_err(error)
    }
}

macro_rules! native {
    ($name:ident) => {
        #[test]
        fn $name() {
            block_on(thermocline_scenarios::$name(&mut NativeHost::new()));
        }
    };
}

thermocline_scenarios::for_each_scenario!(native);
