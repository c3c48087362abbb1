// SPDX-License-Identifier: GPL-2.0
/*
 * nvsim: the exported kernel-side RM API. Exporting a symbol from Rust is
 * awkward, so the exports are these one-line wrappers around `extern "C"`
 * functions of the Rust crate (kapi.rs). The name and the signature are
 * those of nvidia.ko (kernel-open/common/inc/nv-modeset-interface.h), so a
 * module that resolves `nvidia_get_rm_ops` works against either driver.
 *
 * Also the one C macro the crate needs that the kernel's Rust helpers do
 * not wrap (not exported: for mem.rs only).
 */
#include <linux/export.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/types.h>

/* page_to_pfn(), for remap_pfn_range() of the doorbell pages (mem.rs). */
unsigned long nvsim_page_to_pfn(struct page *page);

unsigned long nvsim_page_to_pfn(struct page *page)
{
	return page_to_pfn(page);
}

/* NV_STATUS nvidia_get_rm_ops(nvidia_modeset_rm_ops_t *rm_ops); see kapi.rs. */
u32 nvsim_rust_get_rm_ops(void *rm_ops);
u32 nvidia_get_rm_ops(void *rm_ops);

u32 nvidia_get_rm_ops(void *rm_ops)
{
	return nvsim_rust_get_rm_ops(rm_ops);
}
EXPORT_SYMBOL_GPL(nvidia_get_rm_ops);

/*
 * The driver version nvsim simulates. fakegpu identifies the vendor driver
 * by the module owning the vendor file's operations and this version, and
 * refuses ABIs it does not know (src/core/drivers.rs).
 */
MODULE_VERSION("580.159.04");
