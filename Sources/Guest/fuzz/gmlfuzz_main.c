// SPDX-License-Identifier: GPL-2.0
/*
 * gmlfuzz: the CPL0 half of the hypercall fuzzer (fuzz.c, interface in gmlfuzz_ioctl.h).
 * Runs batches of hypercalls, every register chosen by user space, at CPL0 through
 * fuzz_call.S, and returns every register; owns a two-page kernel scratch the fuzzer points
 * kernel-address arguments at. Loading it does no hypercall (it is loaded under backend none
 * too); the first batch checks the instruction with hypercall.h's #UD-safe look-up first.
 */
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/io.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "hypercall.h"
#include "gmlfuzz_ioctl.h"

void gmlfuzz_vmcall(struct gmlfuzz_regs *r);
void gmlfuzz_vmmcall(struct gmlfuzz_regs *r);

static enum hc_insn gmlfuzz_insn;
static void *scratch;			/* GMLFUZZ_SCRATCH_SIZE bytes, order-1 pages */
static DEFINE_MUTEX(gmlfuzz_lock);	/* one batch / scratch copy at a time */

/* 1: the instruction completes; 0: it raises #UD (no hypervisor). Checked once, #UD-safe. */
static int hypercall_works(void)
{
	static int known, works;
	int faulted;

	if (!known) {
		hc_lookup_insn(gmlfuzz_insn, "gmlab.info", &faulted);
		works = !faulted;
		known = 1;
	}
	return works;
}

static long gmlfuzz_batch(void __user *arg)
{
	struct gmlfuzz_batch b;
	struct gmlfuzz_regs *calls;
	size_t bytes;
	u32 i;
	long ret = 0;

	if (copy_from_user(&b, arg, sizeof(b)))
		return -EFAULT;
	if (b.n == 0 || b.n > GMLFUZZ_BATCH_MAX)
		return -EINVAL;
	if (!hypercall_works())
		return -ENODEV;
	bytes = (size_t)b.n * sizeof(*calls);
	calls = kvmalloc(bytes, GFP_KERNEL);
	if (!calls)
		return -ENOMEM;
	if (copy_from_user(calls, u64_to_user_ptr(b.calls), bytes)) {
		ret = -EFAULT;
		goto out;
	}
	for (i = 0; i < b.n; i++) {
		if (gmlfuzz_insn == HC_INSN_VMMCALL)
			gmlfuzz_vmmcall(&calls[i]);
		else
			gmlfuzz_vmcall(&calls[i]);
		if ((i & 63) == 63)
			cond_resched();
	}
	if (copy_to_user(u64_to_user_ptr(b.calls), calls, bytes))
		ret = -EFAULT;
out:
	kvfree(calls);
	return ret;
}

static long gmlfuzz_ioctl(struct file *f, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;
	struct gmlfuzz_scratch s;
	long ret;

	if (cmd == GMLFUZZ_IOC_INFO) {
		struct gmlfuzz_info info = {
			.scratch_va = (u64)(unsigned long)scratch,
			.scratch_pa = virt_to_phys(scratch),
			.scratch_size = GMLFUZZ_SCRATCH_SIZE,
			.insn = gmlfuzz_insn,
		};
		return copy_to_user(uarg, &info, sizeof(info)) ? -EFAULT : 0;
	}
	mutex_lock(&gmlfuzz_lock);
	switch (cmd) {
	case GMLFUZZ_IOC_SCRATCH_READ:
	case GMLFUZZ_IOC_SCRATCH_WRITE:
		ret = -EFAULT;
		if (copy_from_user(&s, uarg, sizeof(s)))
			break;
		if (cmd == GMLFUZZ_IOC_SCRATCH_READ)
			ret = copy_to_user(u64_to_user_ptr(s.buf), scratch, GMLFUZZ_SCRATCH_SIZE) ?
				-EFAULT : 0;
		else
			ret = copy_from_user(scratch, u64_to_user_ptr(s.buf), GMLFUZZ_SCRATCH_SIZE) ?
				-EFAULT : 0;
		break;
	case GMLFUZZ_IOC_BATCH:
		ret = gmlfuzz_batch(uarg);
		break;
	default:
		ret = -ENOTTY;
	}
	mutex_unlock(&gmlfuzz_lock);
	return ret;
}

static const struct file_operations gmlfuzz_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = gmlfuzz_ioctl,
};

static struct miscdevice gmlfuzz_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "gmlfuzz",
	.fops = &gmlfuzz_fops,
	.mode = 0600,
};

static int __init gmlfuzz_init(void)
{
	int ret;

	BUILD_BUG_ON(GMLFUZZ_SCRATCH_SIZE != 2 * PAGE_SIZE);
	gmlfuzz_insn = hc_insn_for_cpu();
	scratch = (void *)__get_free_pages(GFP_KERNEL | __GFP_ZERO, 1);
	if (!scratch)
		return -ENOMEM;
	ret = misc_register(&gmlfuzz_dev);
	if (ret)
		free_pages((unsigned long)scratch, 1);
	return ret;
}

static void __exit gmlfuzz_exit(void)
{
	misc_deregister(&gmlfuzz_dev);
	free_pages((unsigned long)scratch, 1);
}

module_init(gmlfuzz_init);
module_exit(gmlfuzz_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("GuestMemLab: CPL0 half of the hypercall fuzzer");
