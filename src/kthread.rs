// SPDX-License-Identifier: GPL-2.0

//! The kthread FFI edge: a kernel thread running a closure until asked to
//! stop (the compute scheduler's thread; nvsim's engines use the same file).

use kernel::{bindings, ffi::c_void, prelude::*, types::ForeignOwnable};

/// A running kernel thread, stopped on [`Thread::stop`] or drop.
///
/// # Invariants
///
/// `task` is null (stopped) or a valid task on which we hold a reference
/// taken at spawn.
pub(crate) struct Thread {
    task: *mut bindings::task_struct,
}

// SAFETY: the task pointer is only used for `kthread_stop` and
// `put_task_struct`, which may be called from any thread.
unsafe impl Send for Thread {}
// SAFETY: `&Thread` exposes nothing.
unsafe impl Sync for Thread {}

/// The thread's entry point: runs the closure `spawn` leaked.
///
/// # Safety
///
/// `data` is the `KBox<F>` leaked by `spawn::<F>`, passed once.
unsafe extern "C" fn trampoline<F: FnOnce() + Send + 'static>(
    data: *mut c_void,
) -> kernel::ffi::c_int {
    // SAFETY: `data` is the `KBox<F>` leaked by `spawn::<F>` for this
    // thread alone.
    let body = unsafe { KBox::<F>::from_foreign(data) };
    KBox::into_inner(body)();
    // A kthread must not return before kthread_stop() when it is stopped
    // that way: wait for it.
    while !should_stop() {
        // SAFETY: plain sleep of the current (kernel) thread.
        unsafe { bindings::schedule_timeout_interruptible(10) };
    }
    0
}

impl Thread {
    /// Starts `body` in a thread named `name`.
    pub(crate) fn spawn<F: FnOnce() + Send + 'static>(name: &CStr, body: F) -> Result<Thread> {
        let data = KBox::new(body, GFP_KERNEL)?.into_foreign();
        // SAFETY: `trampoline` has the signature kthread expects; `data`
        // stays valid until the thread reclaims it; the format is "%s" with
        // a C string, copied into the task's name before the call returns.
        let task = unsafe {
            bindings::kthread_create_on_node(
                Some(trampoline::<F>),
                data,
                bindings::NUMA_NO_NODE,
                c"%s".as_char_ptr(),
                name.as_char_ptr(),
            )
        };
        if let Err(e) = kernel::error::from_err_ptr(task) {
            // SAFETY: the thread was not created, so `data` is still ours.
            drop(unsafe { KBox::<F>::from_foreign(data) });
            return Err(e);
        }
        // SAFETY: `task` is a new thread, not yet running; our reference
        // keeps it valid for `kthread_stop`.
        unsafe {
            bindings::get_task_struct(task);
            bindings::wake_up_process(task);
        }
        // INVARIANT: a valid task, referenced.
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
