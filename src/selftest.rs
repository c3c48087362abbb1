// SPDX-License-Identifier: GPL-2.0

//! KUnit tests run when the module loads in a kernel with `CONFIG_KUNIT`:
//! they run the pure core's shared test vectors inside the kernel, proving
//! that the code the host tests is the code the module runs, compiled by
//! the kernel's toolchain with its flags.

#[kernel::prelude::kunit_tests(fakegpu_core)]
mod tests {
    use crate::fgcore::{
        ledger::Ledger,
        limits, objects,
        policy::{self, ContextView},
        quantity, sched,
    };

    #[test]
    fn limits_vectors() {
        assert_eq!(limits::check_vectors(), None);
    }

    #[test]
    fn sched_plan_vectors() {
        assert_eq!(sched::check_plan_vectors(), None);
    }

    #[test]
    fn policy_control_vectors() {
        let strict = ContextView { permissive: false };
        for (cmd, want) in policy::CONTROL_VECTORS {
            assert_eq!(policy::route_of_control(*cmd, &strict).kind(), *want);
        }
        let permissive = ContextView { permissive: true };
        assert!(policy::route_of_control(0x2080_ffff, &permissive).reaches_vendor());
        assert!(!policy::route_of_control(0x2080_ffff, &strict).reaches_vendor());
    }

    #[test]
    fn quantity_vectors() {
        for (input, want) in quantity::VECTORS {
            assert_eq!(quantity::parse_bytes(input.as_bytes()), *want);
        }
    }

    #[test]
    fn objects_script() {
        // The object table's rules over the kernel's storage (red-black
        // trees), with the script the host tests run over `BTreeMap`s.
        let mut t = crate::objects::ObjectTable::new();
        assert_eq!(objects::run_script(&mut t, objects::SCRIPT), Ok(()));
        assert!(t.is_empty());
    }

    #[test]
    fn ledger_caps_exactly() {
        let mut l = Ledger::new(100);
        assert!(l.charge(60).is_ok());
        assert!(l.charge(41).is_err());
        assert!(l.charge(40).is_ok());
        assert_eq!(l.used(), 100);
        assert_eq!(l.refused(), 1);
        assert!(l.uncharge(100).is_ok());
        assert_eq!(l.peak(), 100);
    }
}
