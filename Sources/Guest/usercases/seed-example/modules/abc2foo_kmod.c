/* The seed's examples from the kernel: a kmalloc'd buffer holding "abc" is handed to
 * "example.abc2foo" (services/abc2foo.c) by its kernel linear address, at CPL0; the result goes
 * to the kernel log. Built against the guest kernel's headers; the lab's hypercall.h (on the
 * include path) carries the inline asm with a #UD fix-up, so loading it without a hypervisor
 * reports "not present" instead of crashing. Loading it is the test: init fails (-EIO) when
 * the buffer did not become "foo", so insmod's exit status says it. */
#include <linux/module.h>
#include <linux/slab.h>
#include "hypercall.h"

static int __init abc2foo_init(void)
{
	enum hc_insn insn = hc_insn_for_cpu();
	struct hc_regs r = { 0 };
	unsigned long n;
	int faulted = 0, ok;
	char *buf = kmalloc(16, GFP_KERNEL);

	if (!buf)
		return -ENOMEM;
	strcpy(buf, "abc");
	n = hc_lookup_insn(insn, "example.abc2foo", &faulted);
	if (faulted || n == 0) {
		pr_info("abc2foo_kmod: example.abc2foo not available (%s)\n", faulted ? "no hypervisor" : "unknown name");
		kfree(buf);
		return -ENODEV;
	}
	r.rbx = (unsigned long)buf;
	r.rcx = 3;
	hc_call_insn(insn, n, &r);
	ok = r.rax == 0 && strcmp(buf, "foo") == 0;
	pr_info("abc2foo_kmod: status %lu, buffer now \"%s\"\n", (unsigned long)r.rax, buf);
	kfree(buf);
	return ok ? 0 : -EIO;
}

static void __exit abc2foo_exit(void)
{
}

module_init(abc2foo_init);
module_exit(abc2foo_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("GuestMemLab example user case: seed-style linear call from the kernel");
