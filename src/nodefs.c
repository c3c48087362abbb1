// SPDX-License-Identifier: GPL-2.0
/*
 * fakegpufs: the proxy nodes as the vendor numbers them.
 *
 * NVIDIA's 550 user space stats /dev/nvidiactl and refuses it unless it is
 * 195:255 (docs/abi-550.md, "550 clients and device numbers"). A device
 * number selects a driver for the whole kernel and nvidia.ko owns major
 * 195, so no device node can both carry that number and reach fakegpu.
 * This file system holds, per context, one character-device inode per proxy
 * node (`<ctx>/nvidiactl`, `nvidia<N>`, `nvidia-uvm`) that
 *  - is opened through fakegpu's own file operations, handed the context's
 *    node by the inode itself (as binderfs's device inodes are: never by
 *    number, so a stale bind mount cannot reach a later context that reuses
 *    a misc minor);
 *  - carries a number of fakegpufs's own in i_rdev (a char major that has
 *    no driver, one minor per inode, as binderfs does), the number the
 *    device cgroup checks at open: a container's allow rule names exactly
 *    its nodes, and a node made with that number opens nothing (ENXIO),
 *    so neither a rule nor a node outlives into a later context;
 *  - reports to stat the number of the vendor node it stands for (195:255,
 *    195:<the container's GPU number>, the vendor's nvidia-uvm).
 * Mounted by user space at /sys/fs/fakegpu (`mount -t fakegpu fakegpu
 * /sys/fs/fakegpu`; fakegpuctl does it); containers get its files
 * bind-mounted at the vendor's paths. Each context directory also has a
 * file `devices` that lists its nodes' own numbers (`nvidiactl 240:0`),
 * for the device cgroup rule of a container spec. The tree is kept by the
 * module: no one can create, rename or remove anything in it.
 *
 * The Rust side (miscdev.rs) calls the functions below and hands each
 * node a `put` function that drops the node reference its inode held.
 * This is C because `struct fs_context` is opaque to the kernel crate's
 * bindings, as Rust Binder keeps its binderfs in C.
 */

#include <linux/cdev.h>
#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/idr.h>
#include <linux/kobject.h>
#include <linux/module.h>
#include <linux/namei.h>
#include <linux/pagemap.h>
#include <linux/slab.h>
#include <linux/sysfs.h>

#include "nodefs.h"

#define FAKEGPUFS_MAGIC 0x66677075 /* "fgpu" */

/* What a node inode's i_private points to (owned by the inode). */
struct nodefs_node {
	void *node;	/* the proxy node (a reference, given at mknod) */
	void (*put)(void *node);	/* releases `node` */
	dev_t shown;	/* the number stat reports */
};

/* A context directory's `devices` text (owned by the `devices` inode). */
struct nodefs_devices {
	struct mutex lock;
	size_t len;
	char text[512];
};

static struct file_system_type nodefs_type;
/* fakegpufs's own device numbers: a region with no cdev, one minor each. */
static dev_t nodefs_dev;
static DEFINE_IDA(nodefs_minors);
/* The module's own mount, held while any context directory exists. */
static struct vfsmount *nodefs_mnt;
static int nodefs_mnt_count;

static void nodefs_evict_inode(struct inode *inode)
{
	void *priv = inode->i_private;

	truncate_inode_pages_final(&inode->i_data);
	clear_inode(inode);
	if (!priv)
		return;
	inode->i_private = NULL;
	if (S_ISCHR(inode->i_mode)) {
		struct nodefs_node *n = priv;

		n->put(n->node);
		kfree(n);
		/* The number is free only once no inode carries it. */
		ida_free(&nodefs_minors, MINOR(inode->i_rdev));
	} else if (S_ISREG(inode->i_mode)) {
		struct nodefs_devices *d = priv;

		mutex_destroy(&d->lock);
		kfree(d);
	}
}

static ssize_t nodefs_devices_read(struct file *file, char __user *buf,
				   size_t count, loff_t *ppos)
{
	struct nodefs_devices *d = file_inode(file)->i_private;
	ssize_t r;

	mutex_lock(&d->lock);
	r = simple_read_from_buffer(buf, count, ppos, d->text, d->len);
	mutex_unlock(&d->lock);
	return r;
}

static const struct file_operations nodefs_devices_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.read = nodefs_devices_read,
	.llseek = default_llseek,
};

static const struct super_operations nodefs_sops = {
	.statfs = simple_statfs,
	.evict_inode = nodefs_evict_inode,
};

static int nodefs_getattr(struct mnt_idmap *idmap, const struct path *path,
			  struct kstat *stat, u32 request_mask,
			  unsigned int query_flags)
{
	struct inode *inode = d_inode(path->dentry);
	struct nodefs_node *n = inode->i_private;

	generic_fillattr(idmap, request_mask, inode, stat);
	if (n)
		stat->rdev = n->shown;
	return 0;
}

static const struct inode_operations nodefs_node_iops = {
	.getattr = nodefs_getattr,
};

static int nodefs_fill_super(struct super_block *sb, struct fs_context *fc)
{
	static const struct tree_descr files[] = { { "" } };
	int err;

	err = simple_fill_super(sb, FAKEGPUFS_MAGIC, files);
	if (err)
		return err;
	sb->s_op = &nodefs_sops;
	return 0;
}

static int nodefs_get_tree(struct fs_context *fc)
{
	return get_tree_single(fc, nodefs_fill_super);
}

static const struct fs_context_operations nodefs_context_ops = {
	.get_tree = nodefs_get_tree,
};

static int nodefs_init_fs_context(struct fs_context *fc)
{
	fc->ops = &nodefs_context_ops;
	return 0;
}

static struct file_system_type nodefs_type = {
	.owner = THIS_MODULE,
	.name = "fakegpu",
	.init_fs_context = nodefs_init_fs_context,
	.kill_sb = kill_anon_super,
};

/* The proxy node behind an inode of this file system, or NULL. */
void *fakegpu_nodefs_node_of(struct inode *inode)
{
	struct nodefs_node *n;

	if (inode->i_sb->s_type != &nodefs_type || !S_ISCHR(inode->i_mode))
		return NULL;
	n = inode->i_private;
	return n ? n->node : NULL;
}

/*
 * Creates the directory of context `name` at the root (pinning the file
 * system while it exists). Returns it, or an ERR_PTR (-EEXIST if taken).
 */
struct dentry *fakegpu_nodefs_mkdir(const char *name)
{
	struct dentry *root, *dentry, *file;
	struct nodefs_devices *d;
	struct inode *inode, *finode;
	int err;

	err = simple_pin_fs(&nodefs_type, &nodefs_mnt, &nodefs_mnt_count);
	if (err)
		return ERR_PTR(err);
	root = nodefs_mnt->mnt_root;
	inode = new_inode(root->d_sb);
	if (!inode) {
		dentry = ERR_PTR(-ENOMEM);
		goto unpin;
	}
	dentry = simple_start_creating(root, name);
	if (IS_ERR(dentry)) {
		iput(inode);
		goto unpin;
	}
	inode->i_ino = get_next_ino();
	inode->i_mode = S_IFDIR | 0755;
	simple_inode_init_ts(inode);
	inode->i_op = &simple_dir_inode_operations;
	inode->i_fop = &simple_dir_operations;
	inc_nlink(inode);
	inc_nlink(d_inode(root));
	d_make_persistent(dentry, inode);
	simple_done_creating(dentry);

	/* Its `devices` file; the directory's i_private points at its text. */
	d = kzalloc(sizeof(*d), GFP_KERNEL);
	finode = d ? new_inode(dentry->d_sb) : NULL;
	if (!finode) {
		kfree(d);
		fakegpu_nodefs_rmdir(dentry);
		return ERR_PTR(-ENOMEM);
	}
	mutex_init(&d->lock);
	file = simple_start_creating(dentry, "devices");
	if (IS_ERR(file)) {
		iput(finode);
		mutex_destroy(&d->lock);
		kfree(d);
		fakegpu_nodefs_rmdir(dentry);
		return file;
	}
	finode->i_ino = get_next_ino();
	finode->i_mode = S_IFREG | 0444;
	simple_inode_init_ts(finode);
	finode->i_fop = &nodefs_devices_fops;
	finode->i_private = d;
	d_make_persistent(file, finode);
	simple_done_creating(file);
	inode->i_private = d;
	return dentry;
unpin:
	simple_release_fs(&nodefs_mnt, &nodefs_mnt_count);
	return dentry;
}

/*
 * Creates node `name` in `dir`: a character device with a number of
 * fakegpufs's own (listed in `devices`), opened through `fops` with
 * `node`, reporting `shown` to stat. On success the inode owns `node`
 * (`put` when it is evicted); on failure the caller keeps it.
 */
int fakegpu_nodefs_mknod(struct dentry *dir, const char *name, dev_t shown,
			 const struct file_operations *fops, void *node,
			 void (*put)(void *node))
{
	struct nodefs_devices *d = d_inode(dir)->i_private;
	struct nodefs_node *n;
	struct dentry *dentry;
	struct inode *inode;
	dev_t rdev;
	int minor;

	n = kzalloc(sizeof(*n), GFP_KERNEL);
	if (!n)
		return -ENOMEM;
	minor = ida_alloc_max(&nodefs_minors, MINORMASK, GFP_KERNEL);
	if (minor < 0) {
		kfree(n);
		return minor;
	}
	rdev = MKDEV(MAJOR(nodefs_dev), minor);
	inode = new_inode(dir->d_sb);
	if (!inode) {
		ida_free(&nodefs_minors, minor);
		kfree(n);
		return -ENOMEM;
	}
	dentry = simple_start_creating(dir, name);
	if (IS_ERR(dentry)) {
		iput(inode);
		ida_free(&nodefs_minors, minor);
		kfree(n);
		return PTR_ERR(dentry);
	}
	mutex_lock(&d->lock);
	d->len += scnprintf(d->text + d->len, sizeof(d->text) - d->len,
			    "%s %u:%u\n", name, MAJOR(rdev), MINOR(rdev));
	mutex_unlock(&d->lock);
	inode->i_ino = get_next_ino();
	simple_inode_init_ts(inode);
	init_special_inode(inode, S_IFCHR | 0666, rdev);
	inode->i_fop = fops;
	inode->i_op = &nodefs_node_iops;
	n->node = node;
	n->put = put;
	n->shown = shown;
	inode->i_private = n;
	d_make_persistent(dentry, inode);
	simple_done_creating(dentry);
	return 0;
}

/* Removes a context directory made by fakegpu_nodefs_mkdir() and its nodes. */
void fakegpu_nodefs_rmdir(struct dentry *dir)
{
	simple_recursive_removal(dir, NULL);
	simple_release_fs(&nodefs_mnt, &nodefs_mnt_count);
}

int fakegpu_nodefs_init(void)
{
	int err;

	/* Numbers only: no cdev is added, so opening one by number fails. */
	err = alloc_chrdev_region(&nodefs_dev, 0, MINORMASK + 1, "fakegpufs");
	if (err)
		return err;
	err = sysfs_create_mount_point(fs_kobj, "fakegpu");
	if (err)
		goto region;
	err = register_filesystem(&nodefs_type);
	if (err)
		goto mountpoint;
	return 0;
mountpoint:
	sysfs_remove_mount_point(fs_kobj, "fakegpu");
region:
	unregister_chrdev_region(nodefs_dev, MINORMASK + 1);
	return err;
}

void fakegpu_nodefs_exit(void)
{
	unregister_filesystem(&nodefs_type);
	sysfs_remove_mount_point(fs_kobj, "fakegpu");
	unregister_chrdev_region(nodefs_dev, MINORMASK + 1);
	ida_destroy(&nodefs_minors);
}
