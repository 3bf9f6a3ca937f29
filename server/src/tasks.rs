//! The background tasks of one application (delivery worker, OAuth keep-alive, sweeps), kept
//! together so that they stop with it and a task that ended is noticed.

use std::sync::Mutex;
use tokio::task::JoinHandle;

/// The task `/health` watches: without it nothing is delivered.
pub const DELIVERY_WORKER: &str = "delivery worker";

/// The background tasks of one application. They are aborted when the last handle to the
/// application (its router) is dropped; [`Tasks::stopped`] names any that ended on its own.
#[derive(Default)]
pub struct Tasks {
    running: Mutex<Vec<(&'static str, JoinHandle<()>)>>,
}

impl Tasks {
    pub fn add(&self, name: &'static str, handle: JoinHandle<()>) {
        self.running
            .lock()
            .expect("tasks lock")
            .push((name, handle));
    }

    /// The tasks that are no longer running (they run for the life of the application).
    pub fn stopped(&self) -> Vec<&'static str> {
        self.running
            .lock()
            .expect("tasks lock")
            .iter()
            .filter(|(_, h)| h.is_finished())
            .map(|(name, _)| *name)
            .collect()
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        for (_, handle) in self.running.get_mut().expect("tasks lock").drain(..) {
            handle.abort();
        }
    }
}
