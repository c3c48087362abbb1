//! Errors with a kind (which selects the exit code), a message saying what
//! was wrong and, where we know one, a hint saying how to fix it.

use std::fmt;
use std::io;
use std::path::Path;

/// What kind of failure; each has its own exit code (see [`Kind::exit_code`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Anything unexpected (an I/O error we have no better name for). Exit 1.
    Other,
    /// Bad command line or input value (bad quantity, bad name, out of range). Exit 2.
    Usage,
    /// The fakegpu module is not loaded (no sysfs directory). Exit 3.
    NotLoaded,
    /// No such context, GPU or node. Exit 4.
    NotFound,
    /// A context of that name exists already. Exit 5.
    Exists,
    /// Permission denied (writes need root / CAP_SYS_ADMIN). Exit 6.
    Permission,
    /// The loaded module lacks the feature (e.g. compute scheduling). Exit 7.
    Unsupported,
    /// The module refused the request (EINVAL from a sysfs write). Exit 8.
    Rejected,
    /// The vendor (NVIDIA) driver could not be opened or queried. Exit 9.
    Driver,
    /// `doctor` found problems. Exit 10.
    Unhealthy,
    /// A CDI spec could not be read or written. Exit 11.
    Cdi,
}

impl Kind {
    /// The process exit code of this kind.
    pub fn exit_code(self) -> u8 {
        match self {
            Kind::Other => 1,
            Kind::Usage => 2,
            Kind::NotLoaded => 3,
            Kind::NotFound => 4,
            Kind::Exists => 5,
            Kind::Permission => 6,
            Kind::Unsupported => 7,
            Kind::Rejected => 8,
            Kind::Driver => 9,
            Kind::Unhealthy => 10,
            Kind::Cdi => 11,
        }
    }
}

/// The exit codes, as `--help` and docs/fakegpuctl.md list them.
pub const EXIT_CODES: &str = "\
EXIT CODES:
    0   success
    1   unexpected error (an I/O error the tool has no better name for)
    2   bad usage or input: unknown option, bad quantity, bad name, value out of range
    3   the fakegpu module is not loaded (no sysfs directory)
    4   not found: no such context, GPU or device node
    5   a context of that name already exists
    6   permission denied: changes need root (CAP_SYS_ADMIN)
    7   the loaded module does not support this (e.g. compute scheduling)
    8   the module refused the request (see `dmesg` for why)
    9   the NVIDIA driver could not be opened or queried
    10  `doctor` found problems
    11  a CDI spec could not be read or written
";

/// An error of fakegpuctl.
#[derive(Debug, Clone)]
pub struct Error {
    /// What kind of failure.
    pub kind: Kind,
    /// What was wrong.
    pub message: String,
    /// How to fix it, if we know.
    pub hint: Option<String>,
}

/// Result of fakegpuctl operations.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An error of `kind` saying `message`.
    pub fn new(kind: Kind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            hint: None,
        }
    }

    /// Adds a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Error {
        self.hint = Some(hint.into());
        self
    }

    /// A usage error.
    pub fn usage(message: impl Into<String>) -> Error {
        Error::new(Kind::Usage, message)
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        self.kind.exit_code()
    }

    /// An I/O error on `path` while `doing`, classified by errno.
    pub fn io(doing: &str, path: &Path, e: &io::Error) -> Error {
        let kind = match e.raw_os_error() {
            Some(libc_errno::EPERM) | Some(libc_errno::EACCES) => Kind::Permission,
            Some(libc_errno::ENOENT) | Some(libc_errno::ENODEV) => Kind::NotFound,
            Some(libc_errno::EEXIST) => Kind::Exists,
            Some(libc_errno::EINVAL) | Some(libc_errno::ENOSPC) => Kind::Rejected,
            _ => Kind::Other,
        };
        let err = Error::new(kind, format!("{doing} ({}): {e}", path.display()));
        if e.raw_os_error() == Some(libc_errno::ENOSPC) {
            return err.hint(
                "the caps on a GPU would sum past the card (see /sys/kernel/fakegpu/overcommit and `dmesg | tail`)",
            );
        }
        match kind {
            Kind::Permission => err.hint("run as root (changes need CAP_SYS_ADMIN)"),
            Kind::Rejected => err.hint("the module says why in the kernel log: `dmesg | tail`"),
            _ => err,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)?;
        if let Some(h) = &self.hint {
            write!(f, "\nhint: {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// The few errno values we classify (Linux, all architectures we build for).
pub(crate) mod libc_errno {
    pub const EPERM: i32 = 1;
    pub const ENOENT: i32 = 2;
    pub const EACCES: i32 = 13;
    pub const EEXIST: i32 = 17;
    pub const ENODEV: i32 = 19;
    pub const EINVAL: i32 = 22;
    pub const ENOSPC: i32 = 28;
}
