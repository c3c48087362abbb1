// SPDX-License-Identifier: GPL-2.0

//! The kthread FFI edge: one kernel thread per simulated GPU.

use crate::gpu::Gpu;
use kernel::{bindings, ffi::c_void, prelude::*, sync::Arc, types::ForeignOwnable};

/// What a new thread runs.
struct Start {
    gpu: Arc<Gpu>,
    f: fn(&Gpu),
}

/// A running kernel thread, stopped on [`Thread::stop`] or drop.
///
/// # Invariants
///
/// `task` is a valid task on which this object holds a reference (taken at
/// spawn), until `stop` has run, after which it is null.
pub(crate) struct Thread {
    task: *mut bindings::task_struct,
}

// SAFETY: the task pointer is only used for `kthread_stop` and
// `put_task_struct`, which may be called from any thread.
unsafe impl Send for Thread {}
// SAFETY: `&Thread` exposes nothing.
unsafe impl Sync for Thread {}

unsafe extern "C" fn thread_main(data: *mut c_void) -> kernel::ffi::c_int {
    // SAFETY: `data` is the `KBox<Start>` leaked by `spawn`, handed to this
    // thread only.
    let start = unsafe { KBox::<Start>::from_foreign(data) };
    (start.f)(&start.gpu);
    0
}

impl Thread {
    /// Starts `f(&gpu)` in a thread named `nvsim/<index>`.
    pub(crate) fn spawn(gpu: Arc<Gpu>, f: fn(&Gpu), index: u32) -> Result<Thread> {
        let data = KBox::new(Start { gpu, f }, GFP_KERNEL)?.into_foreign();
        // SAFETY: `thread_main` has the signature kthread expects; `data`
        // stays valid until the thread reclaims it; the format takes one
        // unsigned int, which is passed.
        let task = unsafe {
            bindings::kthread_create_on_node(Some(thread_main), data, bindings::NUMA_NO_NODE, c"nvsim/%u".as_char_ptr(), index)
        };
        if let Err(e) = kernel::error::from_err_ptr(task) {
            // SAFETY: the thread was not created, so `data` is still ours.
            drop(unsafe { KBox::<Start>::from_foreign(data) });
            return Err(e);
        }
        // SAFETY: `task` is a valid, not yet running thread; the reference
        // taken here keeps it valid for `kthread_stop`.
        unsafe {
            bindings::get_task_struct(task);
            bindings::wake_up_process(task);
        }
        // INVARIANT: a valid task with a reference held.
        Ok(Thread { task })
    }

    /// Asks the thread to stop and waits for it.
    pub(crate) fn stop(&mut self) {
        if self.task.is_null() {
            return;
        }
        // SAFETY: by the invariant `task` is valid and referenced.
        unsafe {
            bindings::kthread_stop(self.task);
            bindings::put_task_struct(self.task);
        }
        // INVARIANT: stopped.
        self.task = core::ptr::null_mut();
    }
}

impl Drop for Thread {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether the current kernel thread has been asked to stop.
pub(crate) fn should_stop() -> bool {
    // SAFETY: only called from threads started by `Thread::spawn`.
    unsafe { bindings::kthread_should_stop() }
}
