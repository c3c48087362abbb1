// SPDX-License-Identifier: GPL-2.0

//! RM status codes (`NV_STATUS`), the values written into the `status`
//! field of RM parameter blocks and the `rmStatus` field of UVM ones.
//!
//! Names and values are those of driver 580's `nvstatuscodes.h` (all 150 of
//! them), checked by the layout test that compiles C assertions against the
//! headers. The descriptive strings of the header are not reproduced.

abi_consts! {
    /// Every status code, for [`status_name`].
    STATUS_CODES: u32 {
        /// Status `NV_OK`.
        NV_OK = 0x00000000;
        /// Status `NV_ERR_GENERIC`.
        NV_ERR_GENERIC = 0x0000FFFF;
        /// Status `NV_ERR_BROKEN_FB`.
        NV_ERR_BROKEN_FB = 0x00000001;
        /// Status `NV_ERR_BUFFER_TOO_SMALL`.
        NV_ERR_BUFFER_TOO_SMALL = 0x00000002;
        /// Status `NV_ERR_BUSY_RETRY`.
        NV_ERR_BUSY_RETRY = 0x00000003;
        /// Status `NV_ERR_CALLBACK_NOT_SCHEDULED`.
        NV_ERR_CALLBACK_NOT_SCHEDULED = 0x00000004;
        /// Status `NV_ERR_CARD_NOT_PRESENT`.
        NV_ERR_CARD_NOT_PRESENT = 0x00000005;
        /// Status `NV_ERR_CYCLE_DETECTED`.
        NV_ERR_CYCLE_DETECTED = 0x00000006;
        /// Status `NV_ERR_DMA_IN_USE`.
        NV_ERR_DMA_IN_USE = 0x00000007;
        /// Status `NV_ERR_DMA_MEM_NOT_LOCKED`.
        NV_ERR_DMA_MEM_NOT_LOCKED = 0x00000008;
        /// Status `NV_ERR_DMA_MEM_NOT_UNLOCKED`.
        NV_ERR_DMA_MEM_NOT_UNLOCKED = 0x00000009;
        /// Status `NV_ERR_DUAL_LINK_INUSE`.
        NV_ERR_DUAL_LINK_INUSE = 0x0000000A;
        /// Status `NV_ERR_ECC_ERROR`.
        NV_ERR_ECC_ERROR = 0x0000000B;
        /// Status `NV_ERR_FIFO_BAD_ACCESS`.
        NV_ERR_FIFO_BAD_ACCESS = 0x0000000C;
        /// Status `NV_ERR_FREQ_NOT_SUPPORTED`.
        NV_ERR_FREQ_NOT_SUPPORTED = 0x0000000D;
        /// Status `NV_ERR_GPU_DMA_NOT_INITIALIZED`.
        NV_ERR_GPU_DMA_NOT_INITIALIZED = 0x0000000E;
        /// Status `NV_ERR_GPU_IS_LOST`.
        NV_ERR_GPU_IS_LOST = 0x0000000F;
        /// Status `NV_ERR_GPU_IN_FULLCHIP_RESET`.
        NV_ERR_GPU_IN_FULLCHIP_RESET = 0x00000010;
        /// Status `NV_ERR_GPU_NOT_FULL_POWER`.
        NV_ERR_GPU_NOT_FULL_POWER = 0x00000011;
        /// Status `NV_ERR_GPU_UUID_NOT_FOUND`.
        NV_ERR_GPU_UUID_NOT_FOUND = 0x00000012;
        /// Status `NV_ERR_HOT_SWITCH`.
        NV_ERR_HOT_SWITCH = 0x00000013;
        /// Status `NV_ERR_I2C_ERROR`.
        NV_ERR_I2C_ERROR = 0x00000014;
        /// Status `NV_ERR_I2C_SPEED_TOO_HIGH`.
        NV_ERR_I2C_SPEED_TOO_HIGH = 0x00000015;
        /// Status `NV_ERR_ILLEGAL_ACTION`.
        NV_ERR_ILLEGAL_ACTION = 0x00000016;
        /// Status `NV_ERR_IN_USE`.
        NV_ERR_IN_USE = 0x00000017;
        /// Status `NV_ERR_INFLATE_COMPRESSED_DATA_FAILED`.
        NV_ERR_INFLATE_COMPRESSED_DATA_FAILED = 0x00000018;
        /// Status `NV_ERR_INSERT_DUPLICATE_NAME`.
        NV_ERR_INSERT_DUPLICATE_NAME = 0x00000019;
        /// Status `NV_ERR_INSUFFICIENT_RESOURCES`.
        NV_ERR_INSUFFICIENT_RESOURCES = 0x0000001A;
        /// Status `NV_ERR_INSUFFICIENT_PERMISSIONS`.
        NV_ERR_INSUFFICIENT_PERMISSIONS = 0x0000001B;
        /// Status `NV_ERR_INSUFFICIENT_POWER`.
        NV_ERR_INSUFFICIENT_POWER = 0x0000001C;
        /// Status `NV_ERR_INVALID_ACCESS_TYPE`.
        NV_ERR_INVALID_ACCESS_TYPE = 0x0000001D;
        /// Status `NV_ERR_INVALID_ADDRESS`.
        NV_ERR_INVALID_ADDRESS = 0x0000001E;
        /// Status `NV_ERR_INVALID_ARGUMENT`.
        NV_ERR_INVALID_ARGUMENT = 0x0000001F;
        /// Status `NV_ERR_INVALID_BASE`.
        NV_ERR_INVALID_BASE = 0x00000020;
        /// Status `NV_ERR_INVALID_CHANNEL`.
        NV_ERR_INVALID_CHANNEL = 0x00000021;
        /// Status `NV_ERR_INVALID_CLASS`.
        NV_ERR_INVALID_CLASS = 0x00000022;
        /// Status `NV_ERR_INVALID_CLIENT`.
        NV_ERR_INVALID_CLIENT = 0x00000023;
        /// Status `NV_ERR_INVALID_COMMAND`.
        NV_ERR_INVALID_COMMAND = 0x00000024;
        /// Status `NV_ERR_INVALID_DATA`.
        NV_ERR_INVALID_DATA = 0x00000025;
        /// Status `NV_ERR_INVALID_DEVICE`.
        NV_ERR_INVALID_DEVICE = 0x00000026;
        /// Status `NV_ERR_INVALID_DMA_SPECIFIER`.
        NV_ERR_INVALID_DMA_SPECIFIER = 0x00000027;
        /// Status `NV_ERR_INVALID_EVENT`.
        NV_ERR_INVALID_EVENT = 0x00000028;
        /// Status `NV_ERR_INVALID_FLAGS`.
        NV_ERR_INVALID_FLAGS = 0x00000029;
        /// Status `NV_ERR_INVALID_FUNCTION`.
        NV_ERR_INVALID_FUNCTION = 0x0000002A;
        /// Status `NV_ERR_INVALID_HEAP`.
        NV_ERR_INVALID_HEAP = 0x0000002B;
        /// Status `NV_ERR_INVALID_INDEX`.
        NV_ERR_INVALID_INDEX = 0x0000002C;
        /// Status `NV_ERR_INVALID_IRQ_LEVEL`.
        NV_ERR_INVALID_IRQ_LEVEL = 0x0000002D;
        /// Status `NV_ERR_INVALID_LIMIT`.
        NV_ERR_INVALID_LIMIT = 0x0000002E;
        /// Status `NV_ERR_INVALID_LOCK_STATE`.
        NV_ERR_INVALID_LOCK_STATE = 0x0000002F;
        /// Status `NV_ERR_INVALID_METHOD`.
        NV_ERR_INVALID_METHOD = 0x00000030;
        /// Status `NV_ERR_INVALID_OBJECT`.
        NV_ERR_INVALID_OBJECT = 0x00000031;
        /// Status `NV_ERR_INVALID_OBJECT_BUFFER`.
        NV_ERR_INVALID_OBJECT_BUFFER = 0x00000032;
        /// Status `NV_ERR_INVALID_OBJECT_HANDLE`.
        NV_ERR_INVALID_OBJECT_HANDLE = 0x00000033;
        /// Status `NV_ERR_INVALID_OBJECT_NEW`.
        NV_ERR_INVALID_OBJECT_NEW = 0x00000034;
        /// Status `NV_ERR_INVALID_OBJECT_OLD`.
        NV_ERR_INVALID_OBJECT_OLD = 0x00000035;
        /// Status `NV_ERR_INVALID_OBJECT_PARENT`.
        NV_ERR_INVALID_OBJECT_PARENT = 0x00000036;
        /// Status `NV_ERR_INVALID_OFFSET`.
        NV_ERR_INVALID_OFFSET = 0x00000037;
        /// Status `NV_ERR_INVALID_OPERATION`.
        NV_ERR_INVALID_OPERATION = 0x00000038;
        /// Status `NV_ERR_INVALID_OWNER`.
        NV_ERR_INVALID_OWNER = 0x00000039;
        /// Status `NV_ERR_INVALID_PARAM_STRUCT`.
        NV_ERR_INVALID_PARAM_STRUCT = 0x0000003A;
        /// Status `NV_ERR_INVALID_PARAMETER`.
        NV_ERR_INVALID_PARAMETER = 0x0000003B;
        /// Status `NV_ERR_INVALID_PATH`.
        NV_ERR_INVALID_PATH = 0x0000003C;
        /// Status `NV_ERR_INVALID_POINTER`.
        NV_ERR_INVALID_POINTER = 0x0000003D;
        /// Status `NV_ERR_INVALID_REGISTRY_KEY`.
        NV_ERR_INVALID_REGISTRY_KEY = 0x0000003E;
        /// Status `NV_ERR_INVALID_REQUEST`.
        NV_ERR_INVALID_REQUEST = 0x0000003F;
        /// Status `NV_ERR_INVALID_STATE`.
        NV_ERR_INVALID_STATE = 0x00000040;
        /// Status `NV_ERR_INVALID_STRING_LENGTH`.
        NV_ERR_INVALID_STRING_LENGTH = 0x00000041;
        /// Status `NV_ERR_INVALID_READ`.
        NV_ERR_INVALID_READ = 0x00000042;
        /// Status `NV_ERR_INVALID_WRITE`.
        NV_ERR_INVALID_WRITE = 0x00000043;
        /// Status `NV_ERR_INVALID_XLATE`.
        NV_ERR_INVALID_XLATE = 0x00000044;
        /// Status `NV_ERR_IRQ_NOT_FIRING`.
        NV_ERR_IRQ_NOT_FIRING = 0x00000045;
        /// Status `NV_ERR_IRQ_EDGE_TRIGGERED`.
        NV_ERR_IRQ_EDGE_TRIGGERED = 0x00000046;
        /// Status `NV_ERR_MEMORY_TRAINING_FAILED`.
        NV_ERR_MEMORY_TRAINING_FAILED = 0x00000047;
        /// Status `NV_ERR_MISMATCHED_SLAVE`.
        NV_ERR_MISMATCHED_SLAVE = 0x00000048;
        /// Status `NV_ERR_MISMATCHED_TARGET`.
        NV_ERR_MISMATCHED_TARGET = 0x00000049;
        /// Status `NV_ERR_MISSING_TABLE_ENTRY`.
        NV_ERR_MISSING_TABLE_ENTRY = 0x0000004A;
        /// Status `NV_ERR_MODULE_LOAD_FAILED`.
        NV_ERR_MODULE_LOAD_FAILED = 0x0000004B;
        /// Status `NV_ERR_MORE_DATA_AVAILABLE`.
        NV_ERR_MORE_DATA_AVAILABLE = 0x0000004C;
        /// Status `NV_ERR_MORE_PROCESSING_REQUIRED`.
        NV_ERR_MORE_PROCESSING_REQUIRED = 0x0000004D;
        /// Status `NV_ERR_MULTIPLE_MEMORY_TYPES`.
        NV_ERR_MULTIPLE_MEMORY_TYPES = 0x0000004E;
        /// Status `NV_ERR_NO_FREE_FIFOS`.
        NV_ERR_NO_FREE_FIFOS = 0x0000004F;
        /// Status `NV_ERR_NO_INTR_PENDING`.
        NV_ERR_NO_INTR_PENDING = 0x00000050;
        /// Status `NV_ERR_NO_MEMORY`.
        NV_ERR_NO_MEMORY = 0x00000051;
        /// Status `NV_ERR_NO_SUCH_DOMAIN`.
        NV_ERR_NO_SUCH_DOMAIN = 0x00000052;
        /// Status `NV_ERR_NO_VALID_PATH`.
        NV_ERR_NO_VALID_PATH = 0x00000053;
        /// Status `NV_ERR_NOT_COMPATIBLE`.
        NV_ERR_NOT_COMPATIBLE = 0x00000054;
        /// Status `NV_ERR_NOT_READY`.
        NV_ERR_NOT_READY = 0x00000055;
        /// Status `NV_ERR_NOT_SUPPORTED`.
        NV_ERR_NOT_SUPPORTED = 0x00000056;
        /// Status `NV_ERR_OBJECT_NOT_FOUND`.
        NV_ERR_OBJECT_NOT_FOUND = 0x00000057;
        /// Status `NV_ERR_OBJECT_TYPE_MISMATCH`.
        NV_ERR_OBJECT_TYPE_MISMATCH = 0x00000058;
        /// Status `NV_ERR_OPERATING_SYSTEM`.
        NV_ERR_OPERATING_SYSTEM = 0x00000059;
        /// Status `NV_ERR_OTHER_DEVICE_FOUND`.
        NV_ERR_OTHER_DEVICE_FOUND = 0x0000005A;
        /// Status `NV_ERR_OUT_OF_RANGE`.
        NV_ERR_OUT_OF_RANGE = 0x0000005B;
        /// Status `NV_ERR_OVERLAPPING_UVM_COMMIT`.
        NV_ERR_OVERLAPPING_UVM_COMMIT = 0x0000005C;
        /// Status `NV_ERR_PAGE_TABLE_NOT_AVAIL`.
        NV_ERR_PAGE_TABLE_NOT_AVAIL = 0x0000005D;
        /// Status `NV_ERR_PID_NOT_FOUND`.
        NV_ERR_PID_NOT_FOUND = 0x0000005E;
        /// Status `NV_ERR_PROTECTION_FAULT`.
        NV_ERR_PROTECTION_FAULT = 0x0000005F;
        /// Status `NV_ERR_RC_ERROR`.
        NV_ERR_RC_ERROR = 0x00000060;
        /// Status `NV_ERR_REJECTED_VBIOS`.
        NV_ERR_REJECTED_VBIOS = 0x00000061;
        /// Status `NV_ERR_RESET_REQUIRED`.
        NV_ERR_RESET_REQUIRED = 0x00000062;
        /// Status `NV_ERR_STATE_IN_USE`.
        NV_ERR_STATE_IN_USE = 0x00000063;
        /// Status `NV_ERR_SIGNAL_PENDING`.
        NV_ERR_SIGNAL_PENDING = 0x00000064;
        /// Status `NV_ERR_TIMEOUT`.
        NV_ERR_TIMEOUT = 0x00000065;
        /// Status `NV_ERR_TIMEOUT_RETRY`.
        NV_ERR_TIMEOUT_RETRY = 0x00000066;
        /// Status `NV_ERR_TOO_MANY_PRIMARIES`.
        NV_ERR_TOO_MANY_PRIMARIES = 0x00000067;
        /// Status `NV_ERR_UVM_ADDRESS_IN_USE`.
        NV_ERR_UVM_ADDRESS_IN_USE = 0x00000068;
        /// Status `NV_ERR_MAX_SESSION_LIMIT_REACHED`.
        NV_ERR_MAX_SESSION_LIMIT_REACHED = 0x00000069;
        /// Status `NV_ERR_LIB_RM_VERSION_MISMATCH`.
        NV_ERR_LIB_RM_VERSION_MISMATCH = 0x0000006A;
        /// Status `NV_ERR_PRIV_SEC_VIOLATION`.
        NV_ERR_PRIV_SEC_VIOLATION = 0x0000006B;
        /// Status `NV_ERR_GPU_IN_DEBUG_MODE`.
        NV_ERR_GPU_IN_DEBUG_MODE = 0x0000006C;
        /// Status `NV_ERR_FEATURE_NOT_ENABLED`.
        NV_ERR_FEATURE_NOT_ENABLED = 0x0000006D;
        /// Status `NV_ERR_RESOURCE_LOST`.
        NV_ERR_RESOURCE_LOST = 0x0000006E;
        /// Status `NV_ERR_PMU_NOT_READY`.
        NV_ERR_PMU_NOT_READY = 0x0000006F;
        /// Status `NV_ERR_FLCN_ERROR`.
        NV_ERR_FLCN_ERROR = 0x00000070;
        /// Status `NV_ERR_FATAL_ERROR`.
        NV_ERR_FATAL_ERROR = 0x00000071;
        /// Status `NV_ERR_MEMORY_ERROR`.
        NV_ERR_MEMORY_ERROR = 0x00000072;
        /// Status `NV_ERR_INVALID_LICENSE`.
        NV_ERR_INVALID_LICENSE = 0x00000073;
        /// Status `NV_ERR_NVLINK_INIT_ERROR`.
        NV_ERR_NVLINK_INIT_ERROR = 0x00000074;
        /// Status `NV_ERR_NVLINK_MINION_ERROR`.
        NV_ERR_NVLINK_MINION_ERROR = 0x00000075;
        /// Status `NV_ERR_NVLINK_CLOCK_ERROR`.
        NV_ERR_NVLINK_CLOCK_ERROR = 0x00000076;
        /// Status `NV_ERR_NVLINK_TRAINING_ERROR`.
        NV_ERR_NVLINK_TRAINING_ERROR = 0x00000077;
        /// Status `NV_ERR_NVLINK_CONFIGURATION_ERROR`.
        NV_ERR_NVLINK_CONFIGURATION_ERROR = 0x00000078;
        /// Status `NV_ERR_RISCV_ERROR`.
        NV_ERR_RISCV_ERROR = 0x00000079;
        /// Status `NV_ERR_FABRIC_MANAGER_NOT_PRESENT`.
        NV_ERR_FABRIC_MANAGER_NOT_PRESENT = 0x0000007A;
        /// Status `NV_ERR_ALREADY_SIGNALLED`.
        NV_ERR_ALREADY_SIGNALLED = 0x0000007B;
        /// Status `NV_ERR_QUEUE_TASK_SLOT_NOT_AVAILABLE`.
        NV_ERR_QUEUE_TASK_SLOT_NOT_AVAILABLE = 0x0000007C;
        /// Status `NV_ERR_KEY_ROTATION_IN_PROGRESS`.
        NV_ERR_KEY_ROTATION_IN_PROGRESS = 0x0000007D;
        /// Status `NV_ERR_TEST_ONLY_CODE_NOT_ENABLED`.
        NV_ERR_TEST_ONLY_CODE_NOT_ENABLED = 0x0000007E;
        /// Status `NV_ERR_SECURE_BOOT_FAILED`.
        NV_ERR_SECURE_BOOT_FAILED = 0x0000007F;
        /// Status `NV_ERR_INSUFFICIENT_ZBC_ENTRY`.
        NV_ERR_INSUFFICIENT_ZBC_ENTRY = 0x00000080;
        /// Status `NV_ERR_NVLINK_FABRIC_NOT_READY`.
        NV_ERR_NVLINK_FABRIC_NOT_READY = 0x00000081;
        /// Status `NV_ERR_NVLINK_FABRIC_FAILURE`.
        NV_ERR_NVLINK_FABRIC_FAILURE = 0x00000082;
        /// Status `NV_ERR_GPU_MEMORY_ONLINING_FAILURE`.
        NV_ERR_GPU_MEMORY_ONLINING_FAILURE = 0x00000083;
        /// Status `NV_ERR_REDUCTION_MANAGER_NOT_AVAILABLE`.
        NV_ERR_REDUCTION_MANAGER_NOT_AVAILABLE = 0x00000084;
        /// Status `NV_ERR_THRESHOLD_CROSSED`.
        NV_ERR_THRESHOLD_CROSSED = 0x00000085;
        /// Status `NV_ERR_RESOURCE_RETIREMENT_ERROR`.
        NV_ERR_RESOURCE_RETIREMENT_ERROR = 0x00000086;
        /// Status `NV_ERR_FABRIC_STATE_OUT_OF_SYNC`.
        NV_ERR_FABRIC_STATE_OUT_OF_SYNC = 0x00000087;
        /// Status `NV_ERR_BUFFER_FULL`.
        NV_ERR_BUFFER_FULL = 0x00000088;
        /// Status `NV_ERR_BUFFER_EMPTY`.
        NV_ERR_BUFFER_EMPTY = 0x00000089;
        /// Status `NV_ERR_MC_FLA_OFFSET_TABLE_FULL`.
        NV_ERR_MC_FLA_OFFSET_TABLE_FULL = 0x0000008A;
        /// Status `NV_ERR_DMA_XFER_FAILED`.
        NV_ERR_DMA_XFER_FAILED = 0x0000008B;
        /// Status `NV_WARN_HOT_SWITCH`.
        NV_WARN_HOT_SWITCH = 0x00010001;
        /// Status `NV_WARN_INCORRECT_PERFMON_DATA`.
        NV_WARN_INCORRECT_PERFMON_DATA = 0x00010002;
        /// Status `NV_WARN_MISMATCHED_SLAVE`.
        NV_WARN_MISMATCHED_SLAVE = 0x00010003;
        /// Status `NV_WARN_MISMATCHED_TARGET`.
        NV_WARN_MISMATCHED_TARGET = 0x00010004;
        /// Status `NV_WARN_MORE_PROCESSING_REQUIRED`.
        NV_WARN_MORE_PROCESSING_REQUIRED = 0x00010005;
        /// Status `NV_WARN_NOTHING_TO_DO`.
        NV_WARN_NOTHING_TO_DO = 0x00010006;
        /// Status `NV_WARN_NULL_OBJECT`.
        NV_WARN_NULL_OBJECT = 0x00010007;
        /// Status `NV_WARN_OUT_OF_RANGE`.
        NV_WARN_OUT_OF_RANGE = 0x00010008;
        /// Status `NV_WARN_THRESHOLD_CROSSED`.
        NV_WARN_THRESHOLD_CROSSED = 0x00010009;
    }
}

/// The C name of an RM status code, or `"NV_ERR_<unknown>"`.
pub fn status_name(status: u32) -> &'static str {
    super::wire::const_name(STATUS_CODES, u64::from(status)).unwrap_or("NV_ERR_<unknown>")
}

#[cfg(all(test, not(MODULE)))]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(status_name(0), "NV_OK");
        assert_eq!(status_name(0x51), "NV_ERR_NO_MEMORY");
        assert_eq!(NV_ERR_NO_MEMORY, 0x51);
        assert_eq!(
            status_name(NV_ERR_INVALID_ARGUMENT),
            "NV_ERR_INVALID_ARGUMENT"
        );
        assert_eq!(
            status_name(NV_ERR_INSUFFICIENT_PERMISSIONS),
            "NV_ERR_INSUFFICIENT_PERMISSIONS"
        );
        assert_eq!(status_name(NV_ERR_NOT_SUPPORTED), "NV_ERR_NOT_SUPPORTED");
        assert_eq!(
            status_name(NV_ERR_INVALID_OBJECT_HANDLE),
            "NV_ERR_INVALID_OBJECT_HANDLE"
        );
        assert_eq!(status_name(0xdead_beef), "NV_ERR_<unknown>");
        assert_eq!(STATUS_CODES.len(), 150);
    }

    #[test]
    fn values_are_unique() {
        for (i, a) in STATUS_CODES.iter().enumerate() {
            for b in &STATUS_CODES[i + 1..] {
                assert_ne!(a.value, b.value, "{} and {}", a.name, b.name);
            }
        }
    }
}
