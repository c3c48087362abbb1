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

/*
 * What nvidia.ko creates for user space besides its device nodes, which
 * NVIDIA's clients read (nvidia-smi, NVML, libcuda):
 *   /proc/driver/nvidia/{version,params,registry}
 *   /proc/driver/nvidia/gpus/<domain:bus:slot.fn>/information
 *   /sys/module/nvidia/{initstate,version}
 * (kernel-open/nvidia/nv-procfs.c; /sys/module/nvidia is the real module's
 * own kobject, which nvsim, being named nvsim, has to make: a kobject named
 * "nvidia" under /sys/module, the parent of nvsim's own). The text is
 * written by the Rust crate (procfs.rs), called back per read.
 */
#include <linux/kobject.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/sysfs.h>

/* procfs.rs: writes file `what` (of GPU `gpu`) into buf, returns its length. */
size_t nvsim_rust_proc_text(u32 what, u32 gpu, char *buf, size_t len);
/* The version string of the branch in use (branch.rs). */
const char *nvsim_rust_version(void);

#define NVSIM_PROC_BUF 4096

static int nvsim_proc_show(struct seq_file *s, void *v)
{
	unsigned long key = (unsigned long)s->private;
	char *buf = kmalloc(NVSIM_PROC_BUF, GFP_KERNEL);
	size_t n;

	if (!buf)
		return -ENOMEM;
	n = nvsim_rust_proc_text(key >> 16, key & 0xffff, buf, NVSIM_PROC_BUF);
	seq_write(s, buf, min_t(size_t, n, NVSIM_PROC_BUF));
	kfree(buf);
	return 0;
}

static struct proc_dir_entry *nvsim_proc_root;
static struct kobject *nvsim_sys_nvidia;

static ssize_t initstate_show(struct kobject *k, struct kobj_attribute *a, char *buf)
{
	return sysfs_emit(buf, "live\n");
}

static ssize_t version_show(struct kobject *k, struct kobj_attribute *a, char *buf)
{
	return sysfs_emit(buf, "%s\n", nvsim_rust_version());
}

static struct kobj_attribute nvsim_initstate_attr = __ATTR_RO(initstate);
static struct kobj_attribute nvsim_version_attr = __ATTR_RO(version);
static struct attribute *nvsim_sys_attrs[] = {
	&nvsim_initstate_attr.attr, &nvsim_version_attr.attr, NULL,
};
static const struct attribute_group nvsim_sys_group = { .attrs = nvsim_sys_attrs };

void nvsim_userspace_remove(void);
int nvsim_userspace_create(u32 ngpus, const u8 *buses);

void nvsim_userspace_remove(void)
{
	if (nvsim_sys_nvidia) {
		kobject_put(nvsim_sys_nvidia);
		nvsim_sys_nvidia = NULL;
	}
	proc_remove(nvsim_proc_root);
	nvsim_proc_root = NULL;
}

/* Keys of the files: what << 16 | gpu (procfs.rs's `What`). */
int nvsim_userspace_create(u32 ngpus, const u8 *buses)
{
	struct proc_dir_entry *gpus, *d;
	char name[32];
	u32 i;

	nvsim_proc_root = proc_mkdir("driver/nvidia", NULL);
	if (!nvsim_proc_root)
		return -ENOMEM;
	if (!proc_create_single_data("version", 0444, nvsim_proc_root, nvsim_proc_show, (void *)(0UL << 16)) ||
	    !proc_create_single_data("params", 0444, nvsim_proc_root, nvsim_proc_show, (void *)(1UL << 16)) ||
	    !proc_create_single_data("registry", 0444, nvsim_proc_root, nvsim_proc_show, (void *)(2UL << 16)))
		goto fail;
	gpus = proc_mkdir("gpus", nvsim_proc_root);
	if (!gpus || !proc_mkdir("warnings", nvsim_proc_root) || !proc_mkdir("patches", nvsim_proc_root))
		goto fail;
	for (i = 0; i < ngpus; i++) {
		snprintf(name, sizeof(name), "%04x:%02x:%02x.%1x", 0, buses[i], 0, 0);
		d = proc_mkdir(name, gpus);
		if (!d || !proc_create_single_data("information", 0444, d, nvsim_proc_show,
						   (void *)((3UL << 16) | i)))
			goto fail;
	}
	/* /sys/module is the parent of every module's kobject. */
	nvsim_sys_nvidia = kobject_create_and_add("nvidia", THIS_MODULE->mkobj.kobj.parent);
	if (!nvsim_sys_nvidia)
		goto fail;
	if (sysfs_create_group(nvsim_sys_nvidia, &nvsim_sys_group))
		goto fail;
	return 0;
fail:
	nvsim_userspace_remove();
	return -ENOMEM;
}

/*
 * MODULE_VERSION above is 580's; with the 550 branch selected the module's
 * version (struct module's `version`, kstrdup'ed from modinfo at load,
 * freed at unload; what fakegpu's vendor check and /sys/module/nvsim/version
 * read) is replaced at init, before any other module can look at it.
 */
int nvsim_set_module_version(const char *v);

int nvsim_set_module_version(const char *v)
{
	char *n = kstrdup(v, GFP_KERNEL);
	const char *old;

	if (!n)
		return -ENOMEM;
	old = THIS_MODULE->version;
	THIS_MODULE->version = n;
	kfree(old);
	return 0;
}
