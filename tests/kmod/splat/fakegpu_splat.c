// SPDX-License-Identifier: GPL-2.0
/*
 * fakegpu_splat: a test-only module (never shipped) that misbehaves on
 * request, so the test harness can prove it reports kernel splats:
 *
 *   insmod fakegpu_splat.ko action=warn   -> a WARN() with a backtrace
 *   insmod fakegpu_splat.ko action=uaf    -> a slab use-after-free (KASAN)
 *   insmod fakegpu_splat.ko action=leak   -> an unreferenced allocation (kmemleak)
 *   insmod fakegpu_splat.ko action=none   -> nothing (control case)
 */
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>

static char *action = "none";
module_param(action, charp, 0444);
MODULE_PARM_DESC(action, "none, warn, uaf or leak");

static int __init splat_init(void)
{
	if (!strcmp(action, "warn")) {
		WARN(1, "fakegpu_splat: deliberate WARN for the harness self-test\n");
	} else if (!strcmp(action, "uaf")) {
		int *p = kmalloc(sizeof(*p) * 8, GFP_KERNEL);

		if (!p)
			return -ENOMEM;
		kfree(p);
		pr_info("fakegpu_splat: read after free: %d\n", READ_ONCE(p[3]));
	} else if (!strcmp(action, "leak")) {
		/* Lost on purpose: nothing keeps this pointer. */
		void *p = kmalloc(4096, GFP_KERNEL);

		pr_info("fakegpu_splat: leaked an object at %px\n", p);
		p = NULL;
	} else if (strcmp(action, "none")) {
		return -EINVAL;
	}
	pr_info("fakegpu_splat: action=%s done\n", action);
	return 0;
}

static void __exit splat_exit(void)
{
}

module_init(splat_init);
module_exit(splat_exit);
MODULE_DESCRIPTION("fakegpu test harness self-test: deliberate splats");
MODULE_LICENSE("GPL");
