// SPDX-License-Identifier: GPL-2.0
/*
 * gmlab_bench: times, inside the guest kernel, the transfer methods that need kernel memory
 * (interface and methods in gmlab_bench_ioctl.h). Used by Sources/Guest/bench/bench.c for the
 * `lab bench` cases bench/phys-kernel/..., bench/phys-kernel-list/... and the CPL0 null call.
 * Each open file keeps its own buffers, grown on demand, so repeated samples of one size do
 * not pay for allocation.
 */
#include <linux/fs.h>
#include <linux/io.h>
#include <linux/ktime.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include "hypercall.h"
#include "gmlab_bench_ioctl.h"

static enum hc_insn bench_insn;

struct bench_file {
	struct mutex lock;
	void *contig;			/* kmalloc: physically contiguous */
	size_t contig_size;
	void *vbuf;			/* vmalloc: contiguous only in the kernel's linear space */
	size_t vpages;
	u64 *list;			/* kmalloc'd array of the vmalloc pages' frame numbers */
};

static int grow_contig(struct bench_file *f, size_t size)
{
	if (size <= f->contig_size)
		return 0;
	if (size > GMLAB_BENCH_CONTIG_MAX)
		return -E2BIG;
	kfree(f->contig);
	f->contig_size = 0;
	f->contig = kmalloc(size, GFP_KERNEL);
	if (!f->contig)
		return -ENOMEM;
	memset(f->contig, 0x5a, size);	/* touched: nothing is populated lazily while timing */
	f->contig_size = size;
	return 0;
}

static int grow_list(struct bench_file *f, size_t size)
{
	size_t pages = DIV_ROUND_UP(size, PAGE_SIZE), i;

	if (pages <= f->vpages)
		return 0;
	if (size > GMLAB_BENCH_LIST_MAX)
		return -E2BIG;
	vfree(f->vbuf);
	kfree(f->list);
	f->vpages = 0;
	f->vbuf = vmalloc(pages * PAGE_SIZE);
	f->list = kmalloc_array(pages, sizeof(u64), GFP_KERNEL);
	if (!f->vbuf || !f->list) {
		vfree(f->vbuf);
		kfree(f->list);
		f->vbuf = NULL;
		f->list = NULL;
		return -ENOMEM;
	}
	memset(f->vbuf, 0x5a, pages * PAGE_SIZE);
	for (i = 0; i < pages; i++)
		f->list[i] = page_to_pfn(vmalloc_to_page((u8 *)f->vbuf + i * PAGE_SIZE));
	f->vpages = pages;
	return 0;
}

static long bench_run(struct bench_file *f, void __user *arg)
{
	struct gmlab_bench_run run;
	struct hc_regs r = { 0 }, args = { 0 };
	u64 i, t0;
	int faulted = 0, err = 0;

	if (copy_from_user(&run, arg, sizeof(run)))
		return -EFAULT;
	if (run.iterations == 0 || run.service == 0)
		return -EINVAL;
	mutex_lock(&f->lock);
	switch (run.method) {
	case GMLAB_BENCH_NULL:
		break;
	case GMLAB_BENCH_CONTIG:
		err = run.size ? grow_contig(f, run.size) : -EINVAL;
		args.rbx = virt_to_phys(f->contig);
		args.rcx = run.size;
		args.rdx = run.flags;
		break;
	case GMLAB_BENCH_PAGELIST:
		err = run.size ? grow_list(f, run.size) : -EINVAL;
		args.rbx = virt_to_phys(f->list);
		args.rcx = run.size;
		args.rdx = run.flags;
		args.rdi = 0;	/* the buffer starts at its first frame's start */
		break;
	default:
		err = -EINVAL;
	}
	if (err) {
		mutex_unlock(&f->lock);
		return err;
	}
	t0 = ktime_get_ns();
	for (i = 0; i < run.iterations; i++) {
		r = args;
		r.rax = run.service;
		faulted = hc_raw(bench_insn, &r);
		if (faulted || r.rax != 0)
			break;
	}
	run.ns = ktime_get_ns() - t0;
	mutex_unlock(&f->lock);
	run.rax = r.rax;
	run.rbx = r.rbx;
	run.faulted = faulted;
	run.hypercalls = 1;
	return copy_to_user(arg, &run, sizeof(run)) ? -EFAULT : 0;
}

static int bench_open(struct inode *inode, struct file *file)
{
	struct bench_file *f = kzalloc(sizeof(*f), GFP_KERNEL);

	if (!f)
		return -ENOMEM;
	mutex_init(&f->lock);
	file->private_data = f;
	return 0;
}

static int bench_release(struct inode *inode, struct file *file)
{
	struct bench_file *f = file->private_data;

	kfree(f->contig);
	vfree(f->vbuf);
	kfree(f->list);
	kfree(f);
	return 0;
}

static long bench_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	if (cmd == GMLAB_BENCH_IOC_RUN)
		return bench_run(file->private_data, (void __user *)arg);
	return -ENOTTY;
}

static const struct file_operations bench_fops = {
	.owner = THIS_MODULE,
	.open = bench_open,
	.release = bench_release,
	.unlocked_ioctl = bench_ioctl,
};

static struct miscdevice bench_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "gmlab_bench",
	.fops = &bench_fops,
	.mode = 0600,
};

static int __init bench_init(void)
{
	bench_insn = hc_insn_for_cpu();
	return misc_register(&bench_misc);
}

static void __exit bench_exit(void)
{
	misc_deregister(&bench_misc);
}

module_init(bench_init);
module_exit(bench_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("GuestMemLab benchmark helper: kernel-memory transfer methods timed at CPL0");
