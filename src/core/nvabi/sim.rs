// SPDX-License-Identifier: GPL-2.0

//! What nvsim's simulated engine reads from mapped memory: the USERD
//! words and the doorbell register (real offsets of the Volta+ classes),
//! and nvsim's own GPFIFO entry encoding (**not** NVIDIA's: a real entry
//! points at a push buffer; a simulated one says what the engine does).
//!
//! Shared by nvsim (the kernel module under `tests/nvsim/`) and `nvrm`
//! (user space), so both read the same declarations.
//!
//! How a channel is laid out in nvsim (there is no GPU VA): the channel's
//! `NV_CHANNEL_ALLOC_PARAMS.hUserdMemory[0]` names a memory object of the
//! same client; its USERD is at `userdOffset[0]` in that object and its
//! GPFIFO ring of `gpFifoEntries` 8-byte entries at byte offset
//! `gpFifoOffset` in the same object. Semaphore offsets are byte offsets in
//! that object too.

/// Size of one USERD (`Nvc36fControl`).
pub const USERD_SIZE: usize = 512;
/// `GPGet` in USERD (engine writes: entries consumed).
pub const USERD_GP_GET: usize = 0x88;
/// `GPPut` in USERD (user writes: entries submitted).
pub const USERD_GP_PUT: usize = 0x8c;
/// `NVC361_NOTIFY_CHANNEL_PENDING`: the doorbell register in the usermode
/// (0xc661) region; user space writes a channel's work-submit token here.
pub const USERMODE_DOORBELL: usize = 0x90;
/// Size of the usermode region an `RM_MAP_MEMORY` of 0xc661 maps.
pub const USERMODE_SIZE: u64 = super::class::USERMODE_WINDOW;
/// Size of one GPFIFO entry.
pub const GPFIFO_ENTRY_SIZE: usize = 8;

/// Opcode field of a simulated GPFIFO entry (bits 63..56).
pub const fn entry_op(e: u64) -> u8 {
    (e >> 56) as u8
}

/// No operation.
pub const OP_NOP: u8 = 0;
/// Keep the engine busy for `bits 31..0` microseconds.
pub const OP_BUSY: u8 = 1;
/// Write the u32 `bits 31..0` at byte offset `bits 55..32` of the channel's memory object.
pub const OP_SEMAPHORE: u8 = 2;

/// A simulated GPFIFO entry, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// Nothing to do.
    Nop,
    /// Busy for this many microseconds.
    Busy(u32),
    /// Write `value` at byte `offset`.
    Semaphore {
        /// Byte offset in the channel's memory object (4-aligned).
        offset: u32,
        /// Value written.
        value: u32,
    },
    /// Unknown opcode (the engine skips it).
    Invalid(u64),
}

impl Entry {
    /// Decodes one entry.
    pub const fn decode(e: u64) -> Entry {
        match entry_op(e) {
            OP_NOP => Entry::Nop,
            OP_BUSY => Entry::Busy(e as u32),
            OP_SEMAPHORE => Entry::Semaphore {
                offset: ((e >> 32) & 0xff_ffff) as u32,
                value: e as u32,
            },
            _ => Entry::Invalid(e),
        }
    }

    /// Encodes one entry (offsets are truncated to 24 bits).
    pub const fn encode(self) -> u64 {
        match self {
            Entry::Nop => 0,
            Entry::Busy(us) => ((OP_BUSY as u64) << 56) | us as u64,
            Entry::Semaphore { offset, value } => {
                ((OP_SEMAPHORE as u64) << 56) | (((offset & 0xff_ffff) as u64) << 32) | value as u64
            }
            Entry::Invalid(e) => e,
        }
    }
}

#[cfg(all(test, not(MODULE)))]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip() {
        for e in [
            Entry::Nop,
            Entry::Busy(0),
            Entry::Busy(u32::MAX),
            Entry::Semaphore {
                offset: 0x1000,
                value: 7,
            },
            Entry::Semaphore {
                offset: 0xff_fffc,
                value: u32::MAX,
            },
        ] {
            assert_eq!(Entry::decode(e.encode()), e);
        }
        assert_eq!(
            Entry::decode(0x7700_0000_0000_0001),
            Entry::Invalid(0x7700_0000_0000_0001)
        );
        const { assert!(USERD_GP_PUT + 4 <= USERD_SIZE) };
    }
}
