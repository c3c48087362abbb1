// SPDX-License-Identifier: GPL-2.0

//! Decoder and rewriter tests over hand-built byte images, and
//! property tests (no panics on arbitrary input; read/write round trips).

use super::class::*;
use super::ctrl::*;
use super::decode::*;
use super::escape::*;
use super::rewrite::*;
use super::rm::*;
use super::status::*;
use super::uvm::*;
use super::wire::Wire;
use proptest::prelude::*;
use std::vec;
use std::vec::Vec;

fn bytes<T: Wire>(v: &T) -> Vec<u8> {
    let mut b = vec![0u8; T::SIZE];
    assert!(v.write(&mut b));
    b
}

fn cmd_for<T: Wire>(nr: u32) -> u32 {
    nv_iowr(nr, T::SIZE as u32)
}

fn nvos21(h_class: u32, ptr: u64) -> Nvos21 {
    Nvos21 {
        h_root: 0xc1d0_0001,
        h_object_parent: 0x5c00_0001,
        h_object_new: 0xcafe_0001,
        h_class,
        p_alloc_parms: ptr,
        params_size: 999,
        status: 0,
    }
}

#[test]
fn rm_alloc_nvos21_video_memory() {
    let outer = bytes(&nvos21(NV01_MEMORY_LOCAL_USER, 0x7000_1000));
    let d = decode(FileKind::Ctl, cmd_for::<Nvos21>(NV_ESC_RM_ALLOC), &outer);
    assert_eq!(d.call, Call::Nv(Escape::RmAlloc));
    assert_eq!(d.name(), "NV_ESC_RM_ALLOC");
    let a = match d.body {
        Body::Alloc(a) => a,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        (a.form, a.h_client, a.h_class, a.class),
        (AllocForm::Nvos21, 0xc1d0_0001, 0x40, 0x40)
    );
    // The nested size is the class's, not paramsSize (999).
    let n = d.nested().unwrap();
    assert_eq!(
        (n.ptr_offset, n.ptr, n.size, n.size_exact),
        (16, 0x7000_1000, 128, true)
    );
    assert!(matches!(d.body, Body::Alloc(a) if a.class == 0x40));
    assert_eq!(d.status_offset(), Some(28));
    assert_eq!(d.fd(), None);

    let mut m = NvMemoryAllocationParams::ZERO;
    m.size = 3 << 30;
    m.attr = NVOS32_ATTR_LOCATION_VIDMEM << 25;
    let nested = bytes(&m);
    match d.decode_nested(&nested) {
        Nested::Alloc(AllocParams::Memory(mem)) => {
            assert_eq!(mem.size, 3 << 30);
            assert!(mem.consumes_vidmem);
            assert_eq!(mem.size_offset, 64);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(memory_alloc_result_size(&nested), Some(3 << 30));

    // Refusal: write NV_ERR_NO_MEMORY into the status field.
    let mut outer = outer;
    assert!(d.write_status(&mut outer, NV_ERR_NO_MEMORY));
    assert_eq!(Nvos21::read(&outer).unwrap().status, 0x51);
}

#[test]
fn rm_alloc_nvos64_and_virtual_flag() {
    let a = Nvos64 {
        h_root: 1,
        h_object_parent: 2,
        h_object_new: 3,
        h_class: NV01_MEMORY_LOCAL_USER,
        p_alloc_parms: 0x1000,
        p_rights_requested: 0x2000,
        params_size: 128,
        flags: 0,
        status: 0,
        pad0: 0,
    };
    let d = decode(
        FileKind::Ctl,
        cmd_for::<Nvos64>(NV_ESC_RM_ALLOC),
        &bytes(&a),
    );
    match d.body {
        Body::Alloc(c) => {
            assert_eq!(c.form, AllocForm::Nvos64);
            assert_eq!(c.p_rights_requested, 0x2000);
            assert!(!c.serialized);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(d.status_offset(), Some(40));
    let mut m = NvMemoryAllocationParams::ZERO;
    m.flags = NVOS32_ALLOC_FLAGS_VIRTUAL;
    m.size = 1 << 40;
    match d.decode_nested(&bytes(&m)) {
        Nested::Alloc(AllocParams::Memory(mem)) => assert!(!mem.consumes_vidmem),
        other => panic!("{other:?}"),
    }
    // FINN-serialized: not parsed.
    let mut s = a;
    s.flags = NVOS64_FLAGS_FINN_SERIALIZED;
    let d = decode(
        FileKind::Ctl,
        cmd_for::<Nvos64>(NV_ESC_RM_ALLOC),
        &bytes(&s),
    );
    assert_eq!(
        d.decode_nested(&bytes(&m)),
        Nested::Alloc(AllocParams::Serialized)
    );
}

#[test]
fn type_byte_and_direction_are_ignored_like_the_driver() {
    let outer = bytes(&nvos21(NV01_MEMORY_LOCAL_USER, 1));
    // 'X' instead of 'F', and no direction bits: still RM_ALLOC.
    let cmd = (32 << 16) | (u32::from(b'X') << 8) | NV_ESC_RM_ALLOC;
    let d = decode(FileKind::Ctl, cmd, &outer);
    assert_eq!(d.call, Call::Nv(Escape::RmAlloc));
    assert!(matches!(d.body, Body::Alloc(_)));
}

#[test]
fn bad_size_wrong_file_short_unknown() {
    let outer = bytes(&nvos21(NV01_MEMORY_LOCAL_USER, 1));
    let d = decode(FileKind::Ctl, nv_iowr(NV_ESC_RM_ALLOC, 40), &[0; 40]);
    assert_eq!(d.body, Body::Rejected(Reject::BadSize));
    // Memory alloc on a GPU file: the driver refuses.
    let d = decode(FileKind::Gpu, cmd_for::<Nvos21>(NV_ESC_RM_ALLOC), &outer);
    assert_eq!(d.body, Body::Rejected(Reject::WrongFile));
    // Event alloc on a GPU file: accepted.
    let ev = bytes(&nvos21(NV01_EVENT_OS_EVENT, 1));
    let d = decode(FileKind::Gpu, cmd_for::<Nvos21>(NV_ESC_RM_ALLOC), &ev);
    assert!(matches!(d.body, Body::Alloc(_)));
    // Too few bytes given.
    let d = decode(
        FileKind::Ctl,
        cmd_for::<Nvos21>(NV_ESC_RM_ALLOC),
        &outer[..20],
    );
    assert_eq!(d.body, Body::Short { need: 32, got: 20 });
    // Unknown escape.
    let d = decode(FileKind::Ctl, nv_iowr(0x99, 8), &[0; 8]);
    assert_eq!((d.call, d.body), (Call::Unknown(0x99), Body::Unknown));
    assert_eq!(d.status_offset(), None);
    // No handler.
    let d = decode(FileKind::Ctl, nv_iowr(NV_ESC_RM_CONFIG_GET, 8), &[0; 8]);
    assert_eq!(d.body, Body::Rejected(Reject::NoHandler));
    // ctl-only escape on a GPU file.
    let d = decode(FileKind::Gpu, cmd_for::<Nvos00>(NV_ESC_RM_FREE), &[0; 16]);
    assert_eq!(d.body, Body::Rejected(Reject::WrongFile));
}

#[test]
fn rm_free_and_client_free() {
    let f = Nvos00 {
        h_root: 7,
        h_object_parent: 7,
        h_object_old: 7,
        status: 0,
    };
    let d = decode(FileKind::Ctl, cmd_for::<Nvos00>(NV_ESC_RM_FREE), &bytes(&f));
    assert!(matches!(
        d.body,
        Body::Free {
            h_client: 7,
            h_object: 7,
            ..
        }
    ));
    assert_eq!(d.status_offset(), Some(12));
}

#[test]
fn rm_control_fb_info_v2_and_rewrite() {
    let c = Nvos54 {
        h_client: 1,
        h_object: 0x5c00_0002,
        cmd: NV2080_CTRL_CMD_FB_GET_INFO_V2,
        flags: 0,
        params: 0x7fff_0000,
        params_size: 1028,
        status: 0,
    };
    let mut outer = bytes(&c);
    let d = decode(FileKind::Ctl, cmd_for::<Nvos54>(NV_ESC_RM_CONTROL), &outer);
    assert!(matches!(d.body, Body::Control(c) if c.cmd == NV2080_CTRL_CMD_FB_GET_INFO_V2));
    let n = d.nested().unwrap();
    assert_eq!((n.ptr_offset, n.ptr, n.size), (16, 0x7fff_0000, 1028));
    assert_eq!(
        n.kind,
        NestedKind::ControlParams {
            cmd: NV2080_CTRL_CMD_FB_GET_INFO_V2
        }
    );

    let mut p = Nv2080CtrlFbGetInfoV2Params::ZERO;
    p.fb_info_list_size = 3;
    p.fb_info_list[0] = Nv2080CtrlFbInfo {
        index: NV2080_CTRL_FB_INFO_INDEX_TOTAL_RAM_SIZE,
        data: 80 << 20,
    };
    p.fb_info_list[1] = Nv2080CtrlFbInfo {
        index: NV2080_CTRL_FB_INFO_INDEX_HEAP_FREE,
        data: 79 << 20,
    };
    p.fb_info_list[2] = Nv2080CtrlFbInfo {
        index: NV2080_CTRL_FB_INFO_INDEX_HEAP_BASE_KB,
        data: 42,
    };
    let mut nested = bytes(&p);
    assert_eq!(
        d.decode_nested(&nested),
        Nested::Control(ControlParams::FbInfoV2 { count: 3 })
    );
    // cap 16 GiB, 4 GiB used.
    let n = rewrite_memory_info(&d, &mut outer, &mut nested, 16 << 30, 4 << 30);
    assert_eq!(n, 2);
    let r = Nv2080CtrlFbGetInfoV2Params::read(&nested).unwrap();
    assert_eq!(r.fb_info_list[0].data, 16 << 20);
    assert_eq!(r.fb_info_list[1].data, 12 << 20);
    assert_eq!(r.fb_info_list[2].data, 42);
    // Wrong paramsSize-sized nested block: reported, not parsed.
    assert_eq!(
        decode_control_params(NV2080_CTRL_CMD_FB_GET_INFO_V2, &nested[..100]),
        ControlParams::BadSize {
            need: 1028,
            got: 100
        }
    );
}

#[test]
fn rm_control_fb_info_v1_list() {
    let p = Nv2080CtrlFbGetInfoParams {
        fb_info_list_size: 2,
        pad0: 0,
        fb_info_list: 0x5000,
    };
    match decode_control_params(NV2080_CTRL_CMD_FB_GET_INFO, &bytes(&p)) {
        ControlParams::FbInfoV1 { count, list } => {
            assert_eq!(
                (count, list.ptr, list.size, list.ptr_offset),
                (2, 0x5000, 16, 8)
            );
            let mut l = [0u8; 16];
            l[..4].copy_from_slice(&NV2080_CTRL_FB_INFO_INDEX_HEAP_SIZE.to_le_bytes());
            l[4..8].copy_from_slice(&(1u32 << 30).to_le_bytes());
            assert_eq!(rewrite_fb_info_list(&mut l, 2, 1 << 30, 0), 1);
            assert_eq!(&l[4..8], &(1u32 << 20).to_le_bytes());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn scheduling_controls_decode_as_controls() {
    for cmd in [
        NVA06C_CTRL_CMD_GPFIFO_SCHEDULE,
        NVA06C_CTRL_CMD_SET_TIMESLICE,
        NVA06C_CTRL_CMD_PREEMPT,
        NVA06C_CTRL_CMD_SET_INTERLEAVE_LEVEL,
        NV2080_CTRL_CMD_FIFO_DISABLE_CHANNELS,
        NVA06F_CTRL_CMD_STOP_CHANNEL,
        NV2080_CTRL_CMD_GPU_SET_COMPUTE_POLICY_CONFIG,
        NVA06C_CTRL_CMD_GET_TIMESLICE,
    ] {
        let c = Nvos54 {
            h_client: 1,
            h_object: 2,
            cmd,
            flags: 0,
            params: 0,
            params_size: 8,
            status: 0,
        };
        let d = decode(
            FileKind::Ctl,
            cmd_for::<Nvos54>(NV_ESC_RM_CONTROL),
            &bytes(&c),
        );
        assert!(matches!(d.body, Body::Control(x) if x.cmd == cmd && x.h_object == 2));
    }
    let t = NvA06cCtrlTimesliceParams { timeslice_us: 2048 };
    assert_eq!(
        decode_control_params(NVA06C_CTRL_CMD_SET_TIMESLICE, &bytes(&t)),
        ControlParams::Timeslice { us: 2048 }
    );
    let s = NvA06fCtrlGpfifoScheduleParams {
        enable: 0,
        skip_submit: 0,
        skip_enable: 0,
    };
    assert_eq!(
        decode_control_params(NVA06C_CTRL_CMD_GPFIFO_SCHEDULE, &bytes(&s)),
        ControlParams::Schedule(s)
    );
}

#[test]
fn controls_carrying_fds() {
    let a = Nv00fdCtrlAttachGpuParams {
        h_subdevice: 1,
        flags: 0,
        dev_descriptor: 17,
    };
    let mut b = bytes(&a);
    match decode_control_params(NV00FD_CTRL_CMD_ATTACH_GPU, &b) {
        ControlParams::WithFd { fd, .. } => {
            assert_eq!(
                (fd.offset, fd.width, fd.value, fd.role),
                (8, 8, 17, FdRole::NvGpu)
            );
            assert!(fd.write(&mut b, 99));
            assert_eq!(
                Nv00fdCtrlAttachGpuParams::read(&b).unwrap().dev_descriptor,
                99
            );
        }
        other => panic!("{other:?}"),
    }
    let mut e = Nv0000CtrlOsUnixExportObjectToFdParams::ZERO;
    e.fd = 5;
    match decode_control_params(NV0000_CTRL_CMD_OS_UNIX_EXPORT_OBJECT_TO_FD, &bytes(&e)) {
        ControlParams::WithFd { fd, .. } => {
            assert_eq!((fd.offset, fd.value, fd.role), (16, 5, FdRole::NvCtl))
        }
        other => panic!("{other:?}"),
    }
    let mut c = Nv0000CtrlOsUnixCreateExportObjectFdParams::ZERO;
    c.fd = 6;
    match decode_control_params(NV0000_CTRL_CMD_OS_UNIX_CREATE_EXPORT_OBJECT_FD, &bytes(&c)) {
        ControlParams::WithFd { fd, .. } => assert_eq!((fd.offset, fd.value), (72, 6)),
        other => panic!("{other:?}"),
    }
    let mut x = Nv00e0CtrlExportMemParams::ZERO;
    x.dev_descriptor = 3;
    x.h_parent = 0xc1d0_0001;
    match decode_control_params(NV00E0_CTRL_CMD_EXPORT_MEM, &bytes(&x)) {
        ControlParams::WithFd { fd, h_parent } => {
            assert_eq!(
                (fd.offset, fd.value, h_parent),
                (1040, 3, Some(0xc1d0_0001))
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        decode_control_params(0xdead_beef, &[]),
        ControlParams::Unknown
    );
    assert_eq!(
        decode_control_params(NV2080_CTRL_CMD_GPU_GET_NAME_STRING, &[0; 132]),
        ControlParams::Other
    );
}

#[test]
fn register_fd_map_memory_alloc_memory_fds() {
    let d = decode(
        FileKind::Gpu,
        cmd_for::<NvIoctlRegisterFd>(NV_ESC_REGISTER_FD),
        &7i32.to_le_bytes(),
    );
    let fd = d.fd().unwrap();
    assert_eq!((fd.offset, fd.value, fd.role), (0, 7, FdRole::NvCtl));

    let mut m = Nvos33WithFd::ZERO;
    m.params.h_memory = 0xbeef;
    m.params.length = 4096;
    m.fd = 11;
    let mut b = bytes(&m);
    let d = decode(
        FileKind::Ctl,
        cmd_for::<Nvos33WithFd>(NV_ESC_RM_MAP_MEMORY),
        &b,
    );
    let fd = d.fd().unwrap();
    assert_eq!((fd.offset, fd.value, fd.role), (48, 11, FdRole::NvCtlOrGpu));
    assert!(fd.write(&mut b, 42));
    assert_eq!(Nvos33WithFd::read(&b).unwrap().fd, 42);
    assert_eq!(d.status_offset(), Some(40));

    let mut a = Nvos02WithFd::ZERO;
    a.params.h_class = NV01_MEMORY_SYSTEM;
    a.fd = -1;
    let d = decode(
        FileKind::Gpu,
        cmd_for::<Nvos02WithFd>(NV_ESC_RM_ALLOC_MEMORY),
        &bytes(&a),
    );
    assert_eq!(d.fd().unwrap().value, -1);
    assert!(matches!(
        d.body,
        Body::AllocMemory {
            h_class: NV01_MEMORY_SYSTEM,
            ..
        }
    ));

    let e = NvIoctlAllocOsEvent {
        h_client: 1,
        h_device: 2,
        fd: 9,
        status: 0,
    };
    let d = decode(
        FileKind::Ctl,
        cmd_for::<NvIoctlAllocOsEvent>(NV_ESC_ALLOC_OS_EVENT),
        &bytes(&e),
    );
    let fd = d.fd().unwrap();
    assert_eq!((fd.offset, fd.value, fd.role), (8, 9, FdRole::EventKey));
    assert_eq!(d.status_offset(), Some(12));

    let mut x = NvIoctlExportToDmaBufFd::ZERO;
    x.fd = -1;
    x.num_objects = 1;
    let d = decode(
        FileKind::Gpu,
        cmd_for::<NvIoctlExportToDmaBufFd>(NV_ESC_EXPORT_TO_DMABUF_FD),
        &bytes(&x),
    );
    assert_eq!(d.fd().unwrap().role, FdRole::DmaBuf);
    assert_eq!(d.status_offset(), Some(2600));
}

#[test]
fn event_alloc_params_carry_the_key_fd() {
    let e = Nv0005AllocParameters {
        h_parent_client: 1,
        h_src_resource: 2,
        h_class: 0x79,
        notify_index: 0,
        data: 13,
    };
    let outer = bytes(&nvos21(NV01_EVENT_OS_EVENT, 0x10));
    let d = decode(FileKind::Ctl, cmd_for::<Nvos21>(NV_ESC_RM_ALLOC), &outer);
    assert_eq!(d.nested().unwrap().size, 24);
    let n = d.decode_nested(&bytes(&e));
    let fd = n.fd().unwrap();
    assert_eq!(
        (fd.offset, fd.width, fd.value, fd.role),
        (16, 8, 13, FdRole::EventKey)
    );
}

#[test]
fn other_alloc_classes() {
    let tsg = NvChannelGroupAllocationParameters {
        h_object_error: 1,
        h_object_ecc_error: 2,
        h_va_space: 3,
        engine_type: 1,
        is_calling_context_vgpu_plugin: 0,
        pad0: [0; 3],
    };
    assert_eq!(
        decode_alloc_params(KEPLER_CHANNEL_GROUP_A, &bytes(&tsg)),
        AllocParams::ChannelGroup(tsg)
    );
    let mut ch = NvChannelAllocParams::ZERO;
    ch.h_context_share = 0x77;
    ch.gp_fifo_entries = 1024;
    match decode_alloc_params(HOPPER_CHANNEL_GPFIFO_A, &bytes(&ch)) {
        AllocParams::Channel {
            h_context_share,
            gp_fifo_entries,
            ..
        } => {
            assert_eq!((h_context_share, gp_fifo_entries), (0x77, 1024))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        decode_alloc_params(NV01_ROOT, &0x1234u32.to_le_bytes()),
        AllocParams::Client {
            h_client: Some(0x1234)
        }
    );
    assert_eq!(
        decode_alloc_params(NV01_ROOT_CLIENT, &[]),
        AllocParams::Client { h_client: None }
    );
    assert_eq!(
        decode_alloc_params(NV20_SUBDEVICE_0, &[]),
        AllocParams::Subdevice {
            sub_device_id: None
        }
    );
    assert_eq!(
        decode_alloc_params(HOPPER_USERMODE_A, &[]),
        AllocParams::Usermode(None)
    );
    assert_eq!(
        decode_alloc_params(VOLTA_USERMODE_A, &[]),
        AllocParams::NoParams
    );
    assert_eq!(
        decode_alloc_params(0x1234_5678, &[1, 2, 3]),
        AllocParams::Unknown { class: 0x1234_5678 }
    );
    assert_eq!(
        decode_alloc_params(NV01_MEMORY_LOCAL_USER, &[0; 10]),
        AllocParams::Short { need: 128, got: 10 }
    );
    let f = Nv00f8AllocationParameters {
        alignment: 0,
        alloc_size: 2 << 20,
        page_size: 2 << 20,
        alloc_flags: 0,
        pad0: 0,
        map: Nv00f8Map {
            offset: 0,
            h_vid_mem: 5,
            flags: 0,
        },
    };
    assert_eq!(
        decode_alloc_params(NV_MEMORY_FABRIC, &bytes(&f)),
        AllocParams::Fabric {
            alloc_size: 2 << 20,
            page_size: 2 << 20,
            h_vid_mem: 5
        }
    );
    // Client classes: the driver forces 0x41; null optional params mean 0 bytes.
    let d = decode(
        FileKind::Ctl,
        cmd_for::<Nvos21>(NV_ESC_RM_ALLOC),
        &bytes(&nvos21(NV01_ROOT, 0)),
    );
    let n = d.nested().unwrap();
    assert_eq!(
        (n.size, n.kind),
        (
            0,
            NestedKind::AllocParams {
                class: NV01_ROOT_CLIENT
            }
        )
    );
    assert!(matches!(d.body, Body::Alloc(a) if a.class == NV01_ROOT_CLIENT));
    // Unknown class: fall back to paramsSize, flagged inexact.
    let d = decode(
        FileKind::Ctl,
        cmd_for::<Nvos21>(NV_ESC_RM_ALLOC),
        &bytes(&nvos21(0xabcd, 8)),
    );
    let n = d.nested().unwrap();
    assert_eq!((n.size, n.size_exact), (999, false));
}

#[test]
fn vid_heap_control() {
    let mut h = Nvos32::ZERO;
    h.h_root = 1;
    h.function = NVOS32_FUNCTION_ALLOC_SIZE;
    let mut a = Nvos32AllocSize::ZERO;
    a.size = 5 << 20;
    a.h_memory = 0x99;
    assert!(a.write(&mut h.data));
    let d = decode(
        FileKind::Ctl,
        cmd_for::<Nvos32>(NV_ESC_RM_VID_HEAP_CONTROL),
        &bytes(&h),
    );
    match d.body {
        Body::VidHeap(VidHeapCall { alloc: Some(x), .. }) => {
            assert_eq!(
                (
                    x.class,
                    x.size,
                    x.h_memory,
                    x.size_offset,
                    x.h_memory_offset
                ),
                (0x40, 5 << 20, 0x99, 88, 44)
            )
        }
        other => panic!("{other:?}"),
    }
    // Sysmem location → class 0x3e; virtual → 0x50a0; EGM → 0x42.
    assert_eq!(heap_alloc_class(0, 1 << 25, 0), NV01_MEMORY_SYSTEM);
    assert_eq!(
        heap_alloc_class(NVOS32_ALLOC_FLAGS_VIRTUAL, 0, 0),
        NV50_MEMORY_VIRTUAL
    );
    assert_eq!(heap_alloc_class(0, 0, 1 << 24), NV_MEMORY_EXTENDED_USER);

    h.function = NVOS32_FUNCTION_FREE;
    h.data = [0; 144];
    assert!(Nvos32Free {
        owner: 0,
        h_memory: 0x99,
        flags: 0
    }
    .write(&mut h.data));
    let d = decode(
        FileKind::Ctl,
        cmd_for::<Nvos32>(NV_ESC_RM_VID_HEAP_CONTROL),
        &bytes(&h),
    );
    assert!(matches!(
        d.body,
        Body::VidHeap(v) if v.h_client == 1 && v.free_h_memory == Some(0x99)
    ));

    h.function = NVOS32_FUNCTION_INFO;
    h.total = 80 << 30;
    h.free = 80 << 30;
    let mut outer = bytes(&h);
    let d = decode(
        FileKind::Ctl,
        cmd_for::<Nvos32>(NV_ESC_RM_VID_HEAP_CONTROL),
        &outer,
    );
    assert!(matches!(d.body, Body::VidHeap(v) if v.function == NVOS32_FUNCTION_INFO));
    assert_eq!(rewrite_memory_info(&d, &mut outer, &mut [], 1 << 30, 0), 2);
    assert_eq!(Nvos32::read(&outer).unwrap().total, 1 << 30);
}

#[test]
fn xfer_indirection() {
    let x = NvIoctlXfer {
        cmd: NV_ESC_RM_CONTROL,
        size: 32,
        ptr: 0x4000,
    };
    let d = decode(
        FileKind::Ctl,
        cmd_for::<NvIoctlXfer>(NV_ESC_IOCTL_XFER_CMD),
        &bytes(&x),
    );
    let n = d.nested().unwrap();
    assert_eq!((n.ptr_offset, n.ptr, n.size), (8, 0x4000, 32));
    // The proxy does not unwrap XFER: the outer call is refused, or any
    // call could be wrapped around its checks.
    assert!(matches!(d.body, Body::Xfer { .. }));
    let c = Nvos54 {
        h_client: 1,
        h_object: 2,
        cmd: NVA06C_CTRL_CMD_SET_TIMESLICE,
        flags: 0,
        params: 0,
        params_size: 8,
        status: 0,
    };
    match d.decode_nested(&bytes(&c)) {
        Nested::Xfer(inner) => {
            assert!(matches!(
                inner.body,
                Body::Control(c) if c.cmd == NVA06C_CTRL_CMD_SET_TIMESLICE
            ));
        }
        other => panic!("{other:?}"),
    }
    // Inner commands are compared as full values: 0x12a is not RM_CONTROL.
    assert_eq!(
        decode_nv(FileKind::Ctl, 0x12a, 32, &bytes(&c)).body,
        Body::Unknown
    );
    // XFER inside XFER has no handler; inner size over 16 KiB is refused.
    assert_eq!(
        decode_nv(FileKind::Ctl, NV_ESC_IOCTL_XFER_CMD, 16, &bytes(&x)).body,
        Body::Rejected(Reject::NoHandler)
    );
    let big = NvIoctlXfer {
        cmd: NV_ESC_RM_CONTROL,
        size: 16385,
        ptr: 0,
    };
    let d = decode(
        FileKind::Ctl,
        cmd_for::<NvIoctlXfer>(NV_ESC_IOCTL_XFER_CMD),
        &bytes(&big),
    );
    assert_eq!(d.body, Body::Rejected(Reject::XferTooLarge));
}

#[test]
fn card_info_and_attach() {
    let d = decode(
        FileKind::Ctl,
        nv_iowr(NV_ESC_CARD_INFO, 32 * 72),
        &vec![0u8; 32 * 72],
    );
    assert_eq!(d.body, Body::CardInfo { entries: 32 });
    let d = decode(FileKind::Ctl, nv_iowr(NV_ESC_ATTACH_GPUS_TO_FD, 8), &[0; 8]);
    assert_eq!(d.body, Body::AttachGpus { count: 2 });
    let d = decode(FileKind::Ctl, nv_iowr(NV_ESC_ATTACH_GPUS_TO_FD, 6), &[0; 6]);
    assert_eq!(d.body, Body::Rejected(Reject::BadSize));
    let v = NvIoctlRmApiVersion {
        cmd: NV_RM_API_VERSION_CMD_QUERY,
        reply: 0,
        version_string: [0; 64],
    };
    let d = decode(
        FileKind::Ctl,
        cmd_for::<NvIoctlRmApiVersion>(NV_ESC_CHECK_VERSION_STR),
        &bytes(&v),
    );
    assert_eq!(d.body, Body::CheckVersion { cmd: 0x32 });
}

#[test]
fn uvm_calls() {
    let mut g = UvmRegisterGpuParams::ZERO;
    g.rm_ctrl_fd = 4;
    g.h_client = 0xc1d0_0001;
    g.gpu_uuid = [0xab; 16];
    let d = decode(FileKind::Uvm, UVM_REGISTER_GPU, &bytes(&g));
    assert_eq!(d.size, 40);
    let fd = d.fd().unwrap();
    assert_eq!((fd.offset, fd.value, fd.role), (24, 4, FdRole::UvmRmCtrl));
    assert_eq!(d.status_offset(), Some(36));

    let mut v = UvmRegisterGpuVaspaceParams::ZERO;
    v.rm_ctrl_fd = 5;
    let d = decode(FileKind::Uvm, UVM_REGISTER_GPU_VASPACE, &bytes(&v));
    assert_eq!(d.fd().unwrap().offset, 16);

    let mut c = UvmRegisterChannelParams::ZERO;
    c.rm_ctrl_fd = 6;
    c.h_channel = 0x77;
    let d = decode(FileKind::Uvm, UVM_REGISTER_CHANNEL, &bytes(&c));
    assert!(matches!(
        d.body,
        Body::UvmRegisterChannel {
            h_channel: 0x77,
            ..
        }
    ));
    assert_eq!(d.fd().unwrap().offset, 16);

    let mut m = vec![0u8; 9264];
    m[9248..9252].copy_from_slice(&8i32.to_le_bytes());
    m[9256..9260].copy_from_slice(&0x42u32.to_le_bytes());
    let d = decode(FileKind::Uvm, UVM_MAP_EXTERNAL_ALLOCATION, &m);
    assert!(matches!(
        d.body,
        Body::UvmMapExternal { h_memory: 0x42, .. }
    ));
    let fd = d.fd().unwrap();
    assert_eq!((fd.offset, fd.value), (9248, 8));
    assert_eq!(d.status_offset(), Some(9260));

    let d = decode(
        FileKind::Uvm,
        UVM_MM_INITIALIZE,
        &bytes(&UvmMmInitializeParams {
            uvm_fd: 3,
            rm_status: 0,
        }),
    );
    assert_eq!(d.fd().unwrap().role, FdRole::Uvm);

    let mut p = UvmAllocDeviceP2pParams::ZERO;
    p.rm_ctrl_fd = 9;
    let d = decode(FileKind::Uvm, UVM_ALLOC_DEVICE_P2P, &bytes(&p));
    assert_eq!(d.fd().unwrap().offset, 40);

    let mut t = UvmToolsInitEventTrackerParams::ZERO;
    t.uvm_fd = 10;
    let d = decode(FileKind::UvmTools, UVM_TOOLS_INIT_EVENT_TRACKER, &bytes(&t));
    assert_eq!(
        (d.fd().unwrap().offset, d.fd().unwrap().role),
        (44, FdRole::Uvm)
    );
    // Tools command on the main UVM file, and the reverse.
    assert_eq!(
        decode(FileKind::Uvm, UVM_TOOLS_INIT_EVENT_TRACKER, &bytes(&t)).body,
        Body::Rejected(Reject::WrongFile)
    );
    assert_eq!(
        decode(FileKind::UvmTools, UVM_REGISTER_GPU, &bytes(&g)).body,
        Body::Rejected(Reject::WrongFile)
    );

    let r = UvmCreateExternalRangeParams {
        base: 1 << 40,
        length: 1 << 21,
        rm_status: 0,
        pad0: 0,
    };
    let d = decode(FileKind::Uvm, UVM_CREATE_EXTERNAL_RANGE, &bytes(&r));
    assert_eq!(
        d.body,
        Body::UvmRange {
            base: 1 << 40,
            length: 1 << 21
        }
    );
    let d = decode(FileKind::Uvm, UVM_MIGRATE, &[0; 80]);
    assert_eq!(d.body, Body::Opaque);
    let d = decode(FileKind::Uvm, 0x7777, &[]);
    assert_eq!(d.body, Body::Unknown);
    let d = decode(FileKind::Uvm, UVM_REGISTER_GPU, &[0; 39]);
    assert_eq!(d.body, Body::Short { need: 40, got: 39 });
}

#[test]
fn every_escape_decodes_its_typical_command() {
    for e in Escape::ALL {
        let size = match e.size_rule() {
            SizeRule::Exact(n) | SizeRule::Either(n, _) | SizeRule::AtLeast(n) => n,
            SizeRule::Multiple(n) => n * 2,
            SizeRule::Any => 72,
        };
        let b = vec![0u8; size as usize];
        for file in [FileKind::Ctl, FileKind::Gpu] {
            let d = decode(file, nv_iowr(e.nr(), size), &b);
            assert_eq!(d.call, Call::Nv(*e));
            let ok = !matches!(
                d.body,
                Body::Rejected(_) | Body::Short { .. } | Body::Unknown
            );
            let expect = match e.allowed() {
                Where::Ctl => file == FileKind::Ctl,
                Where::Dev => file == FileKind::Gpu,
                Where::Both => true,
                Where::Nowhere => false,
            };
            // RM_ALLOC of class 0 (a client) is ctl only.
            assert_eq!(ok, expect, "{} on {:?}: {:?}", e.name(), file, d.body);
        }
    }
}

fn any_file() -> impl Strategy<Value = FileKind> {
    prop_oneof![
        Just(FileKind::Ctl),
        Just(FileKind::Gpu),
        Just(FileKind::Uvm),
        Just(FileKind::UvmTools)
    ]
}

fn interesting_cmd() -> impl Strategy<Value = u32> {
    prop_oneof![
        any::<u32>(),
        (0u32..=0x60, 0u32..0x4000).prop_map(|(nr, size)| nv_iowr(nr, size)),
        (200u32..=220, 0u32..0x4000).prop_map(|(nr, size)| nv_iowr(nr, size)),
        prop::sample::select(
            Escape::ALL
                .iter()
                .filter_map(|e| e.typical_cmd())
                .collect::<Vec<_>>()
        ),
        prop::sample::select(UVM_IOCTLS.iter().map(|u| u.cmd).collect::<Vec<_>>()),
    ]
}

fn interesting_class() -> impl Strategy<Value = u32> {
    prop_oneof![
        any::<u32>(),
        prop::sample::select(CLASSES.iter().map(|c| c.class).collect::<Vec<_>>())
    ]
}

fn interesting_ctrl() -> impl Strategy<Value = u32> {
    prop_oneof![
        any::<u32>(),
        prop::sample::select(
            CONTROL_CMDS
                .iter()
                .map(|c| c.value as u32)
                .collect::<Vec<_>>()
        )
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn decode_never_panics(file in any_file(), cmd in interesting_cmd(),
                           bytes in prop::collection::vec(any::<u8>(), 0..600),
                           nested in prop::collection::vec(any::<u8>(), 0..1100),
                           cap in any::<u64>(), used in any::<u64>()) {
        let d = decode(file, cmd, &bytes);
        let _ = d.fd();
        let _ = d.nested();
        let _ = d.name();
        let n = d.decode_nested(&nested);
        let _ = n.fd();
        let mut outer = bytes.clone();
        let mut inner = nested.clone();
        let _ = rewrite_memory_info(&d, &mut outer, &mut inner, cap, used);
        let _ = d.write_status(&mut outer, NV_ERR_NO_MEMORY);
        if let Some(fd) = d.fd() {
            prop_assert!(fd.offset + fd.width <= bytes.len());
            prop_assert!(fd.write(&mut outer, 3));
        }
        if let Some(off) = d.status_offset() {
            if matches!(d.body, Body::Alloc(_) | Body::Control(_) | Body::Free { .. }) {
                prop_assert!(off + 4 <= bytes.len());
            }
        }
    }

    #[test]
    fn nested_decoders_never_panic(class in interesting_class(), cmd in interesting_ctrl(),
                                   bytes in prop::collection::vec(any::<u8>(), 0..1100),
                                   cap in any::<u64>(), used in any::<u64>()) {
        let _ = decode_alloc_params(class, &bytes);
        let _ = decode_control_params(cmd, &bytes);
        let mut b = bytes.clone();
        let count = bytes.first().copied().unwrap_or(0) as u32;
        let _ = rewrite_fb_info_list(&mut b, count, cap, used);
        let _ = rewrite_fb_info_v2(&mut b, cap, used);
        let _ = rewrite_vid_heap_info(&mut b, cap, used);
        let _ = status_name(cmd);
    }

    #[test]
    fn rewrite_never_raises_a_value(entries in prop::collection::vec((0u32..0x40, any::<u32>()), 0..128),
                                    cap in any::<u64>(), used in any::<u64>()) {
        let mut p = Nv2080CtrlFbGetInfoV2Params::ZERO;
        p.fb_info_list_size = entries.len() as u32;
        for (i, (index, data)) in entries.iter().enumerate() {
            p.fb_info_list[i] = Nv2080CtrlFbInfo { index: *index, data: *data };
        }
        let mut b = vec![0u8; 1028];
        prop_assert!(p.write(&mut b));
        rewrite_fb_info_v2(&mut b, cap, used);
        let r = Nv2080CtrlFbGetInfoV2Params::read(&b).unwrap();
        for (i, (index, data)) in entries.iter().enumerate() {
            prop_assert_eq!(r.fb_info_list[i].index, *index);
            prop_assert!(r.fb_info_list[i].data <= *data);
            match fb_info_role(*index) {
                FbInfoRole::Total => prop_assert!(u64::from(r.fb_info_list[i].data) <= cap / 1024),
                FbInfoRole::Free => prop_assert!(u64::from(r.fb_info_list[i].data) <= cap.saturating_sub(used) / 1024),
                FbInfoRole::Keep => prop_assert_eq!(r.fb_info_list[i].data, *data),
            }
        }
    }

    #[test]
    fn wire_round_trips(bytes in prop::collection::vec(any::<u8>(), 1100..1200)) {
        fn rt<T: Wire + PartialEq + core::fmt::Debug>(bytes: &[u8]) -> Result<(), TestCaseError> {
            let v = T::read(bytes).unwrap();
            let mut out = vec![0u8; T::SIZE];
            prop_assert!(v.write(&mut out));
            prop_assert_eq!(&out[..], &bytes[..T::SIZE]);
            prop_assert_eq!(T::read(&out), Some(v));
            prop_assert!(T::read(&bytes[..T::SIZE - 1]).is_none());
            Ok(())
        }
        rt::<Nvos21>(&bytes)?;
        rt::<Nvos64>(&bytes)?;
        rt::<Nvos54>(&bytes)?;
        rt::<Nvos32>(&bytes)?;
        rt::<Nvos33WithFd>(&bytes)?;
        rt::<Nvos02WithFd>(&bytes)?;
        rt::<NvMemoryAllocationParams>(&bytes)?;
        rt::<NvChannelAllocParams>(&bytes)?;
        rt::<Nv0080AllocParameters>(&bytes)?;
        rt::<NvIoctlCardInfo>(&bytes)?;
        rt::<NvIoctlNumaInfo>(&bytes)?;
        rt::<Nv2080CtrlFbGetInfoV2Params>(&bytes)?;
        rt::<Nv2080CtrlFifoDisableChannelsParams>(&bytes)?;
        rt::<Nv00e0CtrlExportMemParams>(&bytes)?;
        rt::<UvmRegisterGpuParams>(&bytes)?;
        rt::<UvmRegisterChannelParams>(&bytes)?;
        rt::<UvmToolsInitEventTrackerParams>(&bytes)?;
    }
}

// Export-fd controls: what a successful call does to the export fd's slots.

#[test]
fn export_call_single_export_and_import() {
    let mut e = Nv0000CtrlOsUnixExportObjectToFdParams::ZERO;
    e.object.type_ = 1;
    e.object.h_device = 0xd;
    e.object.h_object = 0xcafe;
    e.fd = 7;
    let b = bytes(&e);
    let cmd = NV0000_CTRL_CMD_OS_UNIX_EXPORT_OBJECT_TO_FD;
    assert!(is_export_fd_control(cmd));
    assert_eq!(
        export_call(cmd, &b),
        Some(ExportCall::Export { first: 0, count: 1 })
    );
    assert_eq!(export_call_object(cmd, &b, 0), Some(0xcafe));
    assert_eq!(export_call_object(cmd, &b, 1), None);
    assert_eq!(import_call_result(cmd, &b, 0), None);
    // The fd the proxy translates is the decoder's FdField.
    match decode_control_params(cmd, &b) {
        ControlParams::WithFd { fd, .. } => {
            assert_eq!((fd.offset, fd.value, fd.role), (16, 7, FdRole::NvCtl))
        }
        other => panic!("{other:?}"),
    }

    let mut i = Nv0000CtrlOsUnixImportObjectFromFdParams::ZERO;
    i.fd = 9;
    i.object.type_ = 1;
    i.object.h_parent = 0xd2;
    i.object.h_object = 0xbeef;
    let b = bytes(&i);
    let cmd = NV0000_CTRL_CMD_OS_UNIX_IMPORT_OBJECT_FROM_FD;
    assert_eq!(
        export_call(cmd, &b),
        Some(ExportCall::Import {
            first: 0,
            count: 1,
            parent: 0xd2
        })
    );
    assert_eq!(import_call_result(cmd, &b, 0), Some(0xbeef));
    assert_eq!(export_call_object(cmd, &b, 0), None);
    // A short or long block is not decoded (the RM refuses it).
    assert_eq!(export_call(cmd, &b[..19]), None);
    assert_eq!(export_call(cmd, &[0u8; 21]), None);
}

#[test]
fn export_call_many() {
    let mut e = Nv0000CtrlOsUnixExportObjectsToFdParams::ZERO;
    e.fd = 3;
    e.max_objects = 16;
    e.index = 4;
    e.num_objects = 3;
    e.objects[0] = 0x11;
    e.objects[2] = 0x33;
    let cmd = NV0000_CTRL_CMD_OS_UNIX_EXPORT_OBJECTS_TO_FD;
    let b = bytes(&e);
    assert_eq!(
        export_call(cmd, &b),
        Some(ExportCall::Export { first: 4, count: 3 })
    );
    let got: Vec<_> = (0..4).map(|i| export_call_object(cmd, &b, i)).collect();
    assert_eq!(got, vec![Some(0x11), Some(0), Some(0x33), None]);
    e.num_objects = 513;
    assert_eq!(
        export_call(cmd, &bytes(&e)),
        None,
        "over the vendor's maximum"
    );

    let mut i = Nv0000CtrlOsUnixImportObjectsFromFdParams::ZERO;
    i.fd = 3;
    i.h_parent = 0xd;
    i.index = 1;
    i.num_objects = 3;
    i.objects = [0x100; 128];
    i.object_types[0] = 1;
    i.object_types[2] = 2;
    let cmd = NV0000_CTRL_CMD_OS_UNIX_IMPORT_OBJECTS_FROM_FD;
    let b = bytes(&i);
    assert_eq!(
        export_call(cmd, &b),
        Some(ExportCall::Import {
            first: 1,
            count: 3,
            parent: 0xd
        })
    );
    let got: Vec<_> = (0..4).map(|k| import_call_result(cmd, &b, k)).collect();
    assert_eq!(got, vec![Some(0x100), None, Some(0x100), None]);
    i.num_objects = 129;
    assert_eq!(export_call(cmd, &bytes(&i)), None);

    for cmd in [
        NV0000_CTRL_CMD_OS_UNIX_GET_EXPORT_OBJECT_INFO,
        NV0000_CTRL_CMD_OS_UNIX_CREATE_EXPORT_OBJECT_FD,
    ] {
        assert!(is_export_fd_control(cmd));
        assert_eq!(export_call(cmd, &[0u8; 80]), None);
    }
    assert!(!is_export_fd_control(NV00E0_CTRL_CMD_EXPORT_MEM));
    assert!(!is_export_fd_control(NV00FD_CTRL_CMD_ATTACH_GPU));
}

fn export_ctrl() -> impl Strategy<Value = u32> {
    prop::sample::select(vec![
        NV0000_CTRL_CMD_OS_UNIX_EXPORT_OBJECT_TO_FD,
        NV0000_CTRL_CMD_OS_UNIX_IMPORT_OBJECT_FROM_FD,
        NV0000_CTRL_CMD_OS_UNIX_GET_EXPORT_OBJECT_INFO,
        NV0000_CTRL_CMD_OS_UNIX_CREATE_EXPORT_OBJECT_FD,
        NV0000_CTRL_CMD_OS_UNIX_EXPORT_OBJECTS_TO_FD,
        NV0000_CTRL_CMD_OS_UNIX_IMPORT_OBJECTS_FROM_FD,
        NV00E0_CTRL_CMD_EXPORT_MEM,
        0x3d07,
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    /// Never panics; the range stays inside the vendor's bounds; objects
    /// and results are reported exactly for `0..count`; every export-fd
    /// control has its fd where the decoder says, as a ctl fd.
    #[test]
    fn export_call_is_bounded(cmd in export_ctrl(), exact in any::<bool>(),
                              seed in prop::collection::vec(any::<u8>(), 0..2200), i in 0usize..600) {
        let mut b = seed;
        if exact {
            let n = match cmd {
                NV0000_CTRL_CMD_OS_UNIX_EXPORT_OBJECT_TO_FD => 24,
                NV0000_CTRL_CMD_OS_UNIX_IMPORT_OBJECT_FROM_FD => 20,
                NV0000_CTRL_CMD_OS_UNIX_GET_EXPORT_OBJECT_INFO => 80,
                NV0000_CTRL_CMD_OS_UNIX_CREATE_EXPORT_OBJECT_FD => 76,
                NV0000_CTRL_CMD_OS_UNIX_EXPORT_OBJECTS_TO_FD => 2128,
                NV0000_CTRL_CMD_OS_UNIX_IMPORT_OBJECTS_FROM_FD => 652,
                _ => 16,
            };
            b.resize(n, 0x5a);
        }
        let call = export_call(cmd, &b);
        let (obj, res) = (export_call_object(cmd, &b, i), import_call_result(cmd, &b, i));
        match call {
            Some(ExportCall::Export { count, .. }) => {
                prop_assert!(count <= EXPORT_OBJECTS_MAX);
                prop_assert_eq!(obj.is_some(), i < count);
                prop_assert!(res.is_none());
            }
            Some(ExportCall::Import { count, .. }) => {
                prop_assert!(count <= IMPORT_OBJECTS_MAX);
                prop_assert!(obj.is_none());
                if i >= count { prop_assert!(res.is_none()); }
            }
            None => prop_assert!(obj.is_none() && res.is_none()),
        }
        if is_export_fd_control(cmd) {
            if let ControlParams::WithFd { fd, .. } = decode_control_params(cmd, &b) {
                prop_assert_eq!(fd.role, FdRole::NvCtl);
                prop_assert!(fd.offset + fd.width <= b.len());
            }
        }
    }
}

// Moved from class.rs and ctrl.rs: they decode, and the decoder imports
// both (tests there would close an import cycle).

#[test]
fn capture_classes_decode() {
    let mut b = [0u8; 8];
    b[..8].copy_from_slice(&17u64.to_le_bytes());
    match decode_alloc_params(AMPERE_SMC_MONITOR_SESSION, &b) {
        AllocParams::CapSession { fd, swizz_id: None } => {
            assert_eq!(
                (fd.offset, fd.width, fd.value, fd.role),
                (0, 8, 17, FdRole::NvCap)
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        decode_alloc_params(HOPPER_DMA_COPY_A, &[]),
        AllocParams::Copy(None)
    );
    assert_eq!(
        decode_alloc_params(HOPPER_DMA_COPY_A, &[1, 0, 0, 0, 2, 0, 0, 0]),
        AllocParams::Copy(Some(NvB0b5AllocationParameters {
            version: 1,
            engine_type: 2
        }))
    );
    assert_eq!(
        decode_alloc_params(RM_USER_SHARED_DATA, &[0u8; 7]),
        AllocParams::Short { need: 8, got: 7 }
    );
    assert_eq!(
        decode_alloc_params(GT200_DEBUGGER, &[0u8; 12]),
        AllocParams::Other {
            class: GT200_DEBUGGER
        }
    );
    assert_eq!(
        decode_alloc_params(GF100_SUBDEVICE_MASTER, &[]),
        AllocParams::NoParams
    );
}

#[test]
fn capture_controls_are_known_and_sized() {
    // A size-table control: exact size decodes as Other, anything else is BadSize.
    assert_eq!(
        decode_control_params(NV0080_CTRL_CMD_FIFO_GET_CHANNELLIST, &[0u8; 24]),
        ControlParams::Other
    );
    assert_eq!(
        decode_control_params(NV0080_CTRL_CMD_FIFO_GET_CHANNELLIST, &[0u8; 23]),
        ControlParams::BadSize { need: 24, got: 23 }
    );
    assert_eq!(
        decode_control_params(NV2080_CTRL_CMD_RC_SOFT_DISABLE_WATCHDOG, &[]),
        ControlParams::Other
    );
    // Undocumented controls are known (sizes unverified), names are ours.
    assert_eq!(
        decode_control_params(0x2080_8159, &[0u8; 3]),
        ControlParams::Other
    );
    assert_eq!(control_name(0x2081_0108), "NV2081_BINAPI_CTRL_0x08");
    assert!(is_gss_legacy(0x2080_a612) && !is_gss_legacy(NV2080_CTRL_CMD_FB_GET_INFO_V2));
    assert_eq!(
        decode_control_params(0x2080_01ff, &[]),
        ControlParams::Unknown
    );
    for c in CONTROL_PARAM_SIZES {
        assert!(control_known(c.cmd), "{}", c.name);
        assert_eq!(control_name(c.cmd), c.name);
    }
    for u in UNDOCUMENTED_CONTROLS {
        assert!(
            !CONTROL_CMDS.iter().any(|c| c.value == u64::from(u.cmd)),
            "{}",
            u.name
        );
    }
    assert_eq!(Nv2080CtrlGrGetCtxBufferSizeParams::SIZE, 16);
}
