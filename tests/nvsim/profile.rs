// SPDX-License-Identifier: GPL-2.0

//! Per-driver behaviour profiles of the simulated engine: how the real GPU
//! was measured to respond to the scheduling controls
//! (`docs/compute-levers.md`). The engine consults these flags rather than
//! the controls' names, so new measurements change a table, not the code.

/// One profile.
#[derive(Debug)]
pub(crate) struct Profile {
    /// Name shown in the load line and in debugfs.
    pub(crate) name: &'static str,
    /// TSG GPFIFO_SCHEDULE(bEnable=0) takes the group off the runlist.
    pub(crate) schedule_disable_effective: bool,
    /// PREEMPT ends the group's current slice.
    pub(crate) preempt_effective: bool,
    /// FIFO_DISABLE_CHANNELS stops the channels at once (mid-entry).
    pub(crate) channel_disable_effective: bool,
    /// Engine time lost per switch between two groups, µs (not charged to either).
    pub(crate) switch_cost_us: u32,
    /// Timeslice of a new group, µs.
    pub(crate) default_timeslice_us: u64,
}

/// Profiles by module-parameter index.
pub(crate) static PROFILES: [Profile; 2] = [
    // H100 80GB HBM3, driver 580.159.04 (lever study, 2026-11-23):
    // schedule-disable, preempt and interleave accepted with no effect;
    // timeslice ratios hold with full queues; ≈0.22–0.25 ms per switch;
    // FIFO_DISABLE_CHANNELS stops a process at once, even mid-kernel.
    Profile {
        name: "h100-580.159.04",
        schedule_disable_effective: false,
        preempt_effective: false,
        channel_disable_effective: true,
        switch_cost_us: 230,
        default_timeslice_us: 1024,
    },
    // What the control names promise, for tests of a proxy that relies on them.
    Profile {
        name: "nominal",
        schedule_disable_effective: true,
        preempt_effective: true,
        channel_disable_effective: true,
        switch_cost_us: 0,
        default_timeslice_us: 1024,
    },
];

/// The profile at `i`.
pub(crate) fn by_index(i: u32) -> Option<&'static Profile> {
    PROFILES.get(usize::try_from(i).ok()?)
}
