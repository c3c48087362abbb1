/* SPDX-License-Identifier: GPL-2.0 */
/* fakegpufs (nodefs.c), called from the Rust crate (miscdev.rs). */
#ifndef FAKEGPU_NODEFS_H
#define FAKEGPU_NODEFS_H

#include <linux/fs.h>

int fakegpu_nodefs_init(void);
void fakegpu_nodefs_exit(void);
void *fakegpu_nodefs_node_of(struct inode *inode);
struct dentry *fakegpu_nodefs_mkdir(const char *name);
int fakegpu_nodefs_mknod(struct dentry *dir, const char *name, dev_t shown,
			 const struct file_operations *fops, void *node,
			 void (*put)(void *node));
void fakegpu_nodefs_rmdir(struct dentry *dir);

#endif
