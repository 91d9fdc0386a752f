// SPDX-License-Identifier: GPL-2.0
/*
 * gmlab: the guest-side kernel helper of GuestMemLab. A misc device (/dev/gmlab) whose ioctls
 * (gmlab_ioctl.h) run hypercalls at CPL0 and access guest-physical ranges outside System RAM.
 * Every hypercall goes through hc_raw() from hypercall.h, whose exception-table entry turns a
 * #UD (no hypervisor) into faulted = 1 instead of an oops.
 */
#include <linux/fs.h>
#include <linux/io.h>
#include <linux/ioport.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "hypercall.h"
#include "gmlab_ioctl.h"

static enum hc_insn gmlab_insn;

static long gmlab_lookup(void __user *arg)
{
	struct gmlab_lookup *l;
	int faulted;
	long ret = 0;

	l = kmalloc(sizeof(*l), GFP_KERNEL);
	if (!l)
		return -ENOMEM;
	if (copy_from_user(l, arg, sizeof(*l))) {
		ret = -EFAULT;
		goto out;
	}
	l->name[sizeof(l->name) - 1] = 0;
	l->number = hc_lookup_insn(gmlab_insn, l->name, &faulted);
	l->faulted = faulted;
	if (copy_to_user(arg, l, sizeof(*l)))
		ret = -EFAULT;
out:
	kfree(l);
	return ret;
}

static long gmlab_call(void __user *arg)
{
	struct gmlab_hc h;
	struct hc_regs r;

	if (copy_from_user(&h, arg, sizeof(h)))
		return -EFAULT;
	r = (struct hc_regs){ .rax = h.rax, .rbx = h.rbx, .rcx = h.rcx, .rdx = h.rdx,
			      .rsi = h.rsi, .rdi = h.rdi };
	h.faulted = hc_raw(gmlab_insn, &r);
	h.rax = r.rax;
	h.rbx = r.rbx;
	h.rcx = r.rcx;
	h.rdx = r.rdx;
	h.rsi = r.rsi;
	h.rdi = r.rdi;
	return copy_to_user(arg, &h, sizeof(h)) ? -EFAULT : 0;
}

static long gmlab_phys(void __user *arg, bool write)
{
	struct gmlab_phys p;
	u8 *kbuf, *map;
	u64 i;
	long ret = 0;

	if (copy_from_user(&p, arg, sizeof(p)))
		return -EFAULT;
	if (p.len == 0 || p.len > GMLAB_PHYS_MAX || p.gpa + p.len < p.gpa)
		return -EINVAL;
	if (region_intersects(p.gpa, p.len, IORESOURCE_SYSTEM_RAM, IORES_DESC_NONE) !=
	    REGION_DISJOINT) {
		pr_warn("gmlab: refusing physical access to %#llx+%#llx: overlaps System RAM\n",
			p.gpa, p.len);
		return -EPERM;
	}
	kbuf = kvmalloc(p.len, GFP_KERNEL);
	if (!kbuf)
		return -ENOMEM;
	map = memremap(p.gpa, p.len, MEMREMAP_WB);
	if (!map) {
		ret = -ENXIO;
		goto out_free;
	}
	if (write) {
		if (copy_from_user(kbuf, u64_to_user_ptr(p.buf), p.len)) {
			ret = -EFAULT;
			goto out_unmap;
		}
		for (i = 0; i + 8 <= p.len; i += 8)
			WRITE_ONCE(*(u64 *)(map + i), *(u64 *)(kbuf + i));
		for (; i < p.len; i++)
			WRITE_ONCE(map[i], kbuf[i]);
	} else {
		for (i = 0; i + 8 <= p.len; i += 8)
			*(u64 *)(kbuf + i) = READ_ONCE(*(u64 *)(map + i));
		for (; i < p.len; i++)
			kbuf[i] = READ_ONCE(map[i]);
		if (copy_to_user(u64_to_user_ptr(p.buf), kbuf, p.len))
			ret = -EFAULT;
	}
out_unmap:
	memunmap(map);
out_free:
	kvfree(kbuf);
	return ret;
}

static long gmlab_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case GMLAB_IOC_LOOKUP:
		return gmlab_lookup(uarg);
	case GMLAB_IOC_CALL:
		return gmlab_call(uarg);
	case GMLAB_IOC_PHYS_READ:
		return gmlab_phys(uarg, false);
	case GMLAB_IOC_PHYS_WRITE:
		return gmlab_phys(uarg, true);
	case GMLAB_IOC_HANG:
		pr_emerg("gmlab: hanging the guest on purpose (selftest/hang-guest)\n");
		local_irq_disable();
		for (;;)
			cpu_relax();
	}
	return -ENOTTY;
}

static const struct file_operations gmlab_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = gmlab_ioctl,
};

static struct miscdevice gmlab_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "gmlab",
	.fops = &gmlab_fops,
	.mode = 0600,
};

static int __init gmlab_init(void)
{
	gmlab_insn = hc_insn_for_cpu();
	pr_info("gmlab: loaded, hypercall instruction %s\n",
		gmlab_insn == HC_INSN_VMMCALL ? "vmmcall" : "vmcall");
	return misc_register(&gmlab_misc);
}

static void __exit gmlab_exit(void)
{
	misc_deregister(&gmlab_misc);
}

module_init(gmlab_init);
module_exit(gmlab_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("GuestMemLab guest helper: CPL0 hypercalls and reserved-range access");
