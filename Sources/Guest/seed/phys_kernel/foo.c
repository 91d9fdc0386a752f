/*
 * The seed's kernel-module example ("pass the guest-physical address, kernel side"), as the
 * seed writes it: kmalloc 1024 bytes, "abc", virt_to_phys, one hypercall with rbx = physical
 * address and rcx = length; the hypervisor's services/seed_phys.c turns it into "foo".
 * Expected in dmesg (case seed/phys-kernel):
 *     [foo] buf: abc
 *     [foo] buf: foo
 * Changes from the seed, nothing else: the service is looked up as "seed.phys" (the seed
 * registers "foo"); "vmcall" is SEED_VMCALL (seed_vmcall.h: vmcall or vmmcall by CPU vendor,
 * the seed's operands unchanged); the MODULE_LICENSE line the seed omits (modpost of Linux 6.1
 * refuses a module without one). Like the seed, it never frees buf.
 */
#include <linux/module.h>
#include <linux/io.h>
#include <linux/slab.h>
#include "seed_vmcall.h"
static int __init
foo_init (void)
{
ulong phys;
ulong len = 1024;
char *buf;
u32 callnum;
SEED_VMCALL (: "=a" (callnum)
: "a" (0), "b" ("seed.phys"));
if (callnum == 0) {
printk ("[foo] vmcall foo failed.\n");
return -EINVAL;
}
buf = (char *)kmalloc (len, GFP_KERNEL);
if (!buf) {
printk ("foo: kmalloc failed.\n");
return -ENOMEM;
}
buf[0] = 'a'; buf[1] = 'b'; buf[2] = 'c'; buf[3] = '\0';
phys = virt_to_phys (buf);
printk("[foo] buf: %s\n",buf);
SEED_VMCALL (:
: "a" (callnum), "b" (phys)
, "c" (len));
printk("[foo] buf: %s\n",buf);
return 0;
}
static void __exit
foo_exit(void)
{
printk("[foo] exit\n");
}
module_init (foo_init);
module_exit (foo_exit);
MODULE_LICENSE ("GPL");
