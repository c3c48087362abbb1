// SPDX-License-Identifier: GPL-2.0

//! Reading and writing ABI structures as little-endian bytes, without
//! `unsafe`, allocation or panics.
//!
//! Every ABI structure is declared once with `wire_struct!`, which produces:
//!
//! - a `#[repr(C)]` struct whose padding is spelled out as fields, so that
//!   the Rust layout has no implicit padding (asserted: the sum of the field
//!   sizes equals `size_of`);
//! - compile-time assertions of the struct's size and of **every** field's
//!   offset against the numbers written in the declaration;
//! - an implementation of [`Wire`] that reads and writes the struct field by
//!   field with `from_le_bytes`/`to_le_bytes` (x86_64 is little-endian, the
//!   only target whose layouts are declared here);
//! - a `LAYOUT` constant naming the C type and C fields, used by the layout
//!   test that compiles C assertions against NVIDIA's headers and by tracing
//!   tools that want to print fields by name.
//!
//! Constants are declared with `abi_consts!`, which also produces a table
//! of (name, value) pairs, used for name lookups (tracing) and by the same
//! layout test (every constant's name is the C macro or enumerator name).

/// A plain-old-data value with a fixed little-endian byte image.
///
/// `read` takes the first [`Wire::SIZE`] bytes of a slice (extra bytes are
/// ignored) and fails on a shorter slice; `write` fills the first `SIZE`
/// bytes and writes nothing (returning `false`) if the slice is shorter.
pub trait Wire: Sized + Copy {
    /// Size of the byte image, equal to `core::mem::size_of::<Self>()`.
    const SIZE: usize;
    /// The all-zero value.
    const ZERO: Self;
    /// Decodes the value from the start of `bytes`.
    fn read(bytes: &[u8]) -> Option<Self>;
    /// Encodes the value into the start of `out`; `false` if `out` is short.
    fn write(&self, out: &mut [u8]) -> bool;
}

macro_rules! wire_prim {
    ($($t:ty),*) => {$(
        impl Wire for $t {
            const SIZE: usize = core::mem::size_of::<$t>();
            const ZERO: Self = 0;
            fn read(bytes: &[u8]) -> Option<Self> {
                let raw = bytes.get(..Self::SIZE)?;
                let arr: [u8; core::mem::size_of::<$t>()] = raw.try_into().ok()?;
                Some(<$t>::from_le_bytes(arr))
            }
            fn write(&self, out: &mut [u8]) -> bool {
                match out.get_mut(..Self::SIZE) {
                    Some(dst) => {
                        dst.copy_from_slice(&self.to_le_bytes());
                        true
                    }
                    None => false,
                }
            }
        }
    )*};
}
wire_prim!(u8, u16, u32, u64, i8, i16, i32, i64);

impl<T: Wire, const N: usize> Wire for [T; N] {
    const SIZE: usize = T::SIZE * N;
    const ZERO: Self = [T::ZERO; N];
    fn read(bytes: &[u8]) -> Option<Self> {
        if bytes.len() < Self::SIZE {
            return None;
        }
        let mut out = [T::ZERO; N];
        for (i, slot) in out.iter_mut().enumerate() {
            let at = i.checked_mul(T::SIZE)?;
            *slot = T::read(bytes.get(at..)?)?;
        }
        Some(out)
    }
    fn write(&self, out: &mut [u8]) -> bool {
        if out.len() < Self::SIZE {
            return false;
        }
        for (i, item) in self.iter().enumerate() {
            let dst = match i.checked_mul(T::SIZE).and_then(|at| out.get_mut(at..)) {
                Some(dst) => dst,
                None => return false,
            };
            if !item.write(dst) {
                return false;
            }
        }
        true
    }
}

/// One field of a declared structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldLayout {
    /// Rust field name.
    pub name: &'static str,
    /// C field name in NVIDIA's header; empty for our explicit padding.
    pub c_name: &'static str,
    /// Byte offset.
    pub offset: usize,
    /// Byte size.
    pub size: usize,
}

/// The layout of a declared structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StructLayout {
    /// Rust type name.
    pub name: &'static str,
    /// C type (a typedef name, or a `__typeof__` expression for an anonymous
    /// union member) in NVIDIA's headers.
    pub c_name: &'static str,
    /// Size in bytes.
    pub size: usize,
    /// All fields, padding included, in order.
    pub fields: &'static [FieldLayout],
}

/// A named ABI constant (the name is the C macro or enumerator name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConstEntry {
    /// C name.
    pub name: &'static str,
    /// Value, widened to 64 bits.
    pub value: u64,
}

/// The first name in `table` whose value is `value`.
pub fn const_name(table: &[ConstEntry], value: u64) -> Option<&'static str> {
    table.iter().find(|e| e.value == value).map(|e| e.name)
}

/// Reads a `u8` at `off`.
pub fn rd_u8(b: &[u8], off: usize) -> Option<u8> {
    b.get(off).copied()
}

/// Reads a little-endian `u16` at `off`.
pub fn rd_u16(b: &[u8], off: usize) -> Option<u16> {
    u16::read(b.get(off..)?)
}

/// Reads a little-endian `u32` at `off`.
pub fn rd_u32(b: &[u8], off: usize) -> Option<u32> {
    u32::read(b.get(off..)?)
}

/// Reads a little-endian `i32` at `off`.
pub fn rd_i32(b: &[u8], off: usize) -> Option<i32> {
    i32::read(b.get(off..)?)
}

/// Reads a little-endian `u64` at `off`.
pub fn rd_u64(b: &[u8], off: usize) -> Option<u64> {
    u64::read(b.get(off..)?)
}

/// Writes a little-endian `u32` at `off`; `false` (nothing written) if out of range.
pub fn wr_u32(b: &mut [u8], off: usize, v: u32) -> bool {
    match b.get_mut(off..) {
        Some(dst) => v.write(dst),
        None => false,
    }
}

/// Writes a little-endian `i32` at `off`; `false` (nothing written) if out of range.
pub fn wr_i32(b: &mut [u8], off: usize, v: i32) -> bool {
    match b.get_mut(off..) {
        Some(dst) => v.write(dst),
        None => false,
    }
}

/// Writes a little-endian `u64` at `off`; `false` (nothing written) if out of range.
pub fn wr_u64(b: &mut [u8], off: usize, v: u64) -> bool {
    match b.get_mut(off..) {
        Some(dst) => v.write(dst),
        None => false,
    }
}

/// Declares one ABI structure; see the module documentation.
///
/// ```text
/// wire_struct! {
///     /// doc
///     Name = "C_TYPE", size 16;
///     /// doc
///     @0 field_a: u32 = "cFieldA";
///     @4 pad0: u32 = "";          // explicit padding, no C name
///     @8 field_b: u64 = "cFieldB";
/// }
/// ```
macro_rules! wire_struct {
    (
        $(#[$meta:meta])*
        $name:ident = $cname:literal, size $size:literal;
        $(
            $(#[$fmeta:meta])*
            @ $off:literal $field:ident : $ty:ty = $cfield:literal;
        )*
    ) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        const _: () = assert!(core::mem::size_of::<$name>() == $size);
        // No implicit padding: the declared fields cover every byte.
        const _: () = assert!(0 $(+ core::mem::size_of::<$ty>())* == $size);
        $( const _: () = assert!(core::mem::offset_of!($name, $field) == $off); )*

        impl super::wire::Wire for $name {
            const SIZE: usize = $size;
            const ZERO: Self = Self { $( $field: <$ty as super::wire::Wire>::ZERO, )* };
            fn read(bytes: &[u8]) -> Option<Self> {
                if bytes.len() < $size {
                    return None;
                }
                Some(Self {
                    $( $field: <$ty as super::wire::Wire>::read(bytes.get($off..)?)?, )*
                })
            }
            fn write(&self, out: &mut [u8]) -> bool {
                if out.len() < $size {
                    return false;
                }
                let mut ok = true;
                $(
                    ok &= match out.get_mut($off..) {
                        Some(dst) => super::wire::Wire::write(&self.$field, dst),
                        None => false,
                    };
                )*
                ok
            }
        }

        impl $name {
            /// Names, offsets and sizes of this structure's fields.
            pub const LAYOUT: super::wire::StructLayout = super::wire::StructLayout {
                name: stringify!($name),
                c_name: $cname,
                size: $size,
                fields: &[ $( super::wire::FieldLayout {
                    name: stringify!($field),
                    c_name: $cfield,
                    offset: $off,
                    size: core::mem::size_of::<$ty>(),
                }, )* ],
            };
        }
    };
}

/// Declares ABI constants of one type plus a table of them.
///
/// ```text
/// abi_consts! {
///     /// doc of the table
///     TABLE: u32 {
///         /// doc
///         NAME = 0x1;
///     }
/// }
/// ```
macro_rules! abi_consts {
    (
        $(#[$tmeta:meta])*
        $table:ident : $ty:ty {
            $( $(#[$meta:meta])* $name:ident = $val:expr; )*
        }
    ) => {
        $( $(#[$meta])* pub const $name: $ty = $val; )*

        $(#[$tmeta])*
        pub const $table: &[super::wire::ConstEntry] = &[
            $( super::wire::ConstEntry { name: stringify!($name), value: $name as u64 }, )*
        ];
    };
}

#[cfg(all(test, not(MODULE)))]
mod tests {
    use super::*;

    #[test]
    fn prims_round_trip_and_bounds() {
        let mut buf = [0u8; 8];
        assert!(0x1122_3344u32.write(&mut buf));
        assert_eq!(buf[..4], [0x44, 0x33, 0x22, 0x11]);
        assert_eq!(u32::read(&buf), Some(0x1122_3344));
        assert_eq!(u64::read(&buf[1..]), None);
        assert!(!u64::MAX.write(&mut buf[1..]));
        assert_eq!(rd_u32(&buf, 5), None);
        assert_eq!(rd_u32(&buf, usize::MAX), None);
        assert!(!wr_u32(&mut buf, usize::MAX, 1));
        assert_eq!(i32::read(&[0xff; 4]), Some(-1));
    }

    #[test]
    fn arrays_round_trip() {
        let v: [u16; 3] = [1, 0x203, 0xffff];
        let mut buf = [0u8; 6];
        assert!(v.write(&mut buf));
        assert_eq!(buf, [1, 0, 3, 2, 0xff, 0xff]);
        assert_eq!(<[u16; 3]>::read(&buf), Some(v));
        assert_eq!(<[u16; 3]>::read(&buf[..5]), None);
        assert!(!v.write(&mut buf[..5]));
    }
}
