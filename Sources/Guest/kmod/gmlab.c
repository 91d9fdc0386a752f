// SPDX-License-Identifier: GPL-2.0
/*
 * gmlab: the guest-side kernel helper of GuestMemLab. A misc device (/dev/gmlab) whose ioctls
 * (gmlab_ioctl.h) run hypercalls at CPL0, access guest-physical ranges outside System RAM,
 * and hold one kmalloc / vmalloc buffer per open file for the physical and kernel-linear methods.
 * For the walker and continuation cases of issue 14 it also maps that buffer a second time
 * (read-only or read-write), changes that alias's leaf entries and the caller's own
 * page-directory entries, and measures interrupt latency with a periodic hrtimer while user
 * space makes a long hypercall.
 * Every hypercall goes through hc_raw() from hypercall.h, whose exception-table entry turns a
 * #UD (no hypervisor) into faulted = 1 instead of an oops. GMLAB_IOC_TRY runs one privileged
 * instruction (MSR, CR0, XSETBV, a physical read) the same way, reporting the vector it raised.
 */
#include <linux/fs.h>
#include <linux/delay.h>
#include <linux/hrtimer.h>
#include <linux/io.h>
#include <linux/ioport.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/mmap_lock.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <asm/pgtable.h>
#include <asm/tlbflush.h>
#include <asm/apic.h>
#include <asm/asm.h>
#include <asm/irq_vectors.h>
#include <asm/irq_regs.h>

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
	if (h.insn != 0 && h.insn != HC_INSN_VMCALL && h.insn != HC_INSN_VMMCALL)
		return -EINVAL;
	r = (struct hc_regs){ .rax = h.rax, .rbx = h.rbx, .rcx = h.rcx, .rdx = h.rdx,
			      .rsi = h.rsi, .rdi = h.rdi };
	h.faulted = hc_raw(h.insn ? (enum hc_insn)h.insn : gmlab_insn, &r);
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

/* ---- the per-file kernel buffer (physical and kernel-linear methods) ---- */

struct gmlab_file {
	struct mutex lock;
	u32 kind;
	u64 size;
	void *buf;
	u64 *pfns;	/* kmalloc'd: physically contiguous, passed to the hypervisor by gpa */
	u64 npages;
	void *alias;	/* vmap of the buffer's pages (GMLAB_IOC_KBUF_ALIAS), or NULL */
	u64 alias_pages;
	bool latency;	/* this file started the latency measurement */
};

static void alias_free(struct gmlab_file *f)
{
	if (f->alias)
		vunmap(f->alias);
	f->alias = NULL;
	f->alias_pages = 0;
}

static void kbuf_free(struct gmlab_file *f)
{
	alias_free(f);
	if (f->kind == GMLAB_KBUF_KMALLOC)
		kfree(f->buf);
	else if (f->kind == GMLAB_KBUF_PAGES)
		free_pages((unsigned long)f->buf, get_order(f->size));
	else if (f->kind == GMLAB_KBUF_VMALLOC)
		vfree(f->buf);
	kfree(f->pfns);
	f->buf = NULL;
	f->pfns = NULL;
	f->kind = 0;
	f->size = f->npages = 0;
}

/* Zeroed contiguous pages whose guest-physical range lies in [lo, hi): up to 256 tries, from
 * ZONE_DMA32 when the range is below 4 GiB (GFP_KERNEL prefers ZONE_NORMAL above it). */
static void *pages_in_range(u64 size, u64 lo, u64 hi)
{
	unsigned int order = get_order(size), i, n = 0;
	gfp_t gfp = GFP_KERNEL | __GFP_ZERO | __GFP_NOWARN | (hi <= (4ULL << 30) ? __GFP_DMA32 : 0);
	struct page **rejected = kcalloc(256, sizeof(*rejected), GFP_KERNEL);
	void *found = NULL;

	if (!rejected)
		return NULL;
	while (!found && n < 256) {
		struct page *pg = alloc_pages(gfp, order);
		u64 pa;

		if (!pg)
			break;
		pa = page_to_phys(pg);
		if (pa >= lo && pa + size <= hi)
			found = page_address(pg);
		else
			rejected[n++] = pg;
	}
	for (i = 0; i < n; i++)
		__free_pages(rejected[i], order);
	kfree(rejected);
	return found;
}

static long gmlab_kbuf_alloc(struct gmlab_file *f, void __user *arg)
{
	struct gmlab_kbuf k;
	u64 i;

	if (copy_from_user(&k, arg, sizeof(k)))
		return -EFAULT;
	k.kmalloc_max = KMALLOC_MAX_SIZE;
	if (k.size == 0 || k.size > GMLAB_KBUF_MAX ||
	    (k.kind == GMLAB_KBUF_KMALLOC && k.size > KMALLOC_MAX_SIZE))
		return -EINVAL;
	if (k.kind != GMLAB_KBUF_KMALLOC && k.kind != GMLAB_KBUF_VMALLOC &&
	    k.kind != GMLAB_KBUF_PAGES)
		return -EINVAL;
	if (k.kind == GMLAB_KBUF_PAGES && (k.size > KMALLOC_MAX_SIZE || k.phys_lo >= k.phys_hi))
		return -EINVAL;
	kbuf_free(f);
	f->npages = DIV_ROUND_UP(k.size, PAGE_SIZE);
	f->pfns = kcalloc(f->npages, sizeof(u64), GFP_KERNEL);
	if (!f->pfns)
		return -ENOMEM;
	if (k.kind == GMLAB_KBUF_PAGES)
		f->buf = pages_in_range(k.size, k.phys_lo, k.phys_hi);
	else
		f->buf = k.kind == GMLAB_KBUF_KMALLOC ? kzalloc(k.size, GFP_KERNEL | __GFP_NOWARN)
						      : vzalloc(k.size);
	if (!f->buf) {
		pr_warn("gmlab: %s of %llu bytes failed\n", k.kind == GMLAB_KBUF_KMALLOC ? "kmalloc" :
			k.kind == GMLAB_KBUF_VMALLOC ? "vmalloc" : "alloc_pages in range", k.size);
		kfree(f->pfns);
		f->pfns = NULL;
		return k.kind == GMLAB_KBUF_PAGES ? -ENOSPC : -ENOMEM;
	}
	f->kind = k.kind;
	f->size = k.size;
	for (i = 0; i < f->npages; i++) {
		void *p = (u8 *)f->buf + i * PAGE_SIZE;

		f->pfns[i] = k.kind == GMLAB_KBUF_VMALLOC ? vmalloc_to_pfn(p) : PHYS_PFN(virt_to_phys(p));
	}
	k.kva = (u64)(unsigned long)f->buf;
	k.gpa = k.kind == GMLAB_KBUF_VMALLOC ? 0 : virt_to_phys(f->buf);
	k.list_gpa = virt_to_phys(f->pfns);
	k.npages = f->npages;
	return copy_to_user(arg, &k, sizeof(k)) ? -EFAULT : 0;
}

static long gmlab_kbuf_io(struct gmlab_file *f, void __user *arg, bool write)
{
	struct gmlab_kbuf_io io;
	unsigned long left;

	if (copy_from_user(&io, arg, sizeof(io)))
		return -EFAULT;
	if (!f->buf)
		return -ENOENT;
	if (io.offset > f->size || io.len > f->size - io.offset)
		return -EINVAL;
	left = write ? copy_from_user((u8 *)f->buf + io.offset, u64_to_user_ptr(io.buf), io.len)
		     : copy_to_user(u64_to_user_ptr(io.buf), (u8 *)f->buf + io.offset, io.len);
	return left ? -EFAULT : 0;
}

/* ---- a second mapping of the buffer, and its leaf entries (CPL0 walker cases) ---- */

#define ALIAS_MAX_PAGES 64

static long gmlab_kbuf_alias(struct gmlab_file *f, void __user *arg)
{
	struct gmlab_alias a;
	struct page **pages;
	u8 *first;
	u64 i, n;
	void *map;

	if (copy_from_user(&a, arg, sizeof(a)))
		return -EFAULT;
	if (!f->buf)
		return -ENOENT;
	if (a.prot != GMLAB_ALIAS_RO && a.prot != GMLAB_ALIAS_RW)
		return -EINVAL;
	first = (u8 *)((unsigned long)f->buf & PAGE_MASK);
	n = DIV_ROUND_UP(offset_in_page(f->buf) + f->size, PAGE_SIZE);
	if (n > ALIAS_MAX_PAGES)
		return -E2BIG;
	pages = kcalloc(n, sizeof(*pages), GFP_KERNEL);
	if (!pages)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		pages[i] = f->kind == GMLAB_KBUF_VMALLOC ? vmalloc_to_page(first + i * PAGE_SIZE)
							 : virt_to_page(first + i * PAGE_SIZE);
	map = vmap(pages, n, VM_MAP, a.prot == GMLAB_ALIAS_RO ? PAGE_KERNEL_RO : PAGE_KERNEL);
	kfree(pages);
	if (!map)
		return -ENOMEM;
	alias_free(f);
	f->alias = map;
	f->alias_pages = n;
	a.kva = (u64)(unsigned long)map + offset_in_page(f->buf);
	a.npages = n;
	return copy_to_user(arg, &a, sizeof(a)) ? -EFAULT : 0;
}

static long gmlab_alias_pte(struct gmlab_file *f, void __user *arg)
{
	struct gmlab_pte p;
	unsigned int level;
	unsigned long va;
	pte_t *ptep;

	if (copy_from_user(&p, arg, sizeof(p)))
		return -EFAULT;
	va = (unsigned long)p.kva;
	if (!f->alias || va < (unsigned long)f->alias ||
	    va >= (unsigned long)f->alias + f->alias_pages * PAGE_SIZE)
		return -EINVAL;
	ptep = lookup_address(va, &level);
	if (!ptep || level != PG_LEVEL_4K)
		return -ENXIO;
	p.old = pte_val(*ptep);
	p.new = (p.old | p.set) & ~p.clear;
	if (p.new != p.old) {
		set_pte(ptep, __pte(p.new));
		preempt_disable();
		__flush_tlb_all();
		preempt_enable();
	}
	p.phys_bits = boot_cpu_data.x86_phys_bits;
	return copy_to_user(arg, &p, sizeof(p)) ? -EFAULT : 0;
}

static long gmlab_user_pmd(void __user *arg)
{
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;
	struct gmlab_pmd p;
	unsigned long va, lo;
	pgd_t *pgd;
	p4d_t *p4d;
	pud_t *pud;
	pmd_t *pmd;
	long ret = 0;

	if (copy_from_user(&p, arg, sizeof(p)))
		return -EFAULT;
	va = (unsigned long)p.va;
	lo = va & PMD_MASK;
	if (!mm || va >= TASK_SIZE_MAX)
		return -EINVAL;
	mmap_write_lock(mm);
	vma = find_vma(mm, va);
	if (!vma || vma->vm_start > lo || vma->vm_end < lo + PMD_SIZE ||
	    !(vma->vm_flags & VM_NOHUGEPAGE)) {
		ret = -EINVAL; /* the whole 2 MiB must be this one VMA, never huge */
		goto out;
	}
	pgd = pgd_offset(mm, va);
	if (pgd_none(*pgd) || pgd_bad(*pgd))
		goto none;
	p4d = p4d_offset(pgd, va);
	if (p4d_none(*p4d) || p4d_bad(*p4d))
		goto none;
	pud = pud_offset(p4d, va);
	if (pud_none(*pud) || pud_bad(*pud))
		goto none;
	pmd = pmd_offset(pud, va);
	if (pmd_none(*pmd) || pmd_large(*pmd))
		goto none;
	p.old = pmd_val(*pmd);
	p.new = (p.old | p.set) & ~p.clear;
	if (p.new != p.old) {
		set_pmd(pmd, __pmd(p.new));
		preempt_disable();
		__flush_tlb_all();
		preempt_enable();
	}
	goto out;
none:
	ret = -ENXIO;
out:
	mmap_write_unlock(mm);
	if (!ret && copy_to_user(arg, &p, sizeof(p)))
		ret = -EFAULT;
	return ret;
}

/* ---- interrupt latency during long hypercalls ---- */

static DEFINE_MUTEX(lat_lock);
static struct hrtimer lat_timer;
static bool lat_running;
static ktime_t lat_period, lat_start;
static u64 lat_echo, lat_fires, lat_max, lat_sum, lat_over1, lat_over10, lat_calls, lat_bad;

static enum hrtimer_restart lat_tick(struct hrtimer *t)
{
	s64 late = ktime_to_ns(ktime_sub(ktime_get(), hrtimer_get_expires(t)));

	if (late < 0)
		late = 0;
	lat_fires++;
	lat_sum += late;
	if (late > lat_max)
		lat_max = late;
	lat_over1 += late > 1000000;
	lat_over10 += late > 10000000;
	if (lat_echo) {
		/* a hypercall from the interrupt that interrupted a continuation: gml.regs.echo
		 * answers rax 0 and each of rbx..rdi its own NOT */
		struct hc_regs r = { .rax = lat_echo, .rbx = lat_calls, .rcx = 2, .rdx = 3, .rsi = 4,
				     .rdi = 5 };
		u64 n = lat_calls++;
		int faulted = hc_raw(gmlab_insn, &r);

		if (faulted || r.rax != 0 || r.rbx != ~n || r.rcx != ~2ULL || r.rdx != ~3ULL ||
		    r.rsi != ~4ULL || r.rdi != ~5ULL)
			lat_bad++;
	}
	hrtimer_forward_now(t, lat_period);
	return HRTIMER_RESTART;
}

static void lat_stop(struct gmlab_latency *l)
{
	hrtimer_cancel(&lat_timer);
	lat_running = false;
	if (!l)
		return;
	l->fires = lat_fires;
	l->max_late_ns = lat_max;
	l->sum_late_ns = lat_sum;
	l->over_1ms = lat_over1;
	l->over_10ms = lat_over10;
	l->echo_calls = lat_calls;
	l->echo_bad = lat_bad;
	l->elapsed_ns = ktime_to_ns(ktime_sub(ktime_get(), lat_start));
}

static long gmlab_latency(struct gmlab_file *f, void __user *arg)
{
	struct gmlab_latency l;
	long ret = 0;

	if (copy_from_user(&l, arg, sizeof(l)))
		return -EFAULT;
	mutex_lock(&lat_lock);
	if (l.op == GMLAB_LAT_START) {
		if (lat_running) {
			ret = -EBUSY;
		} else if (l.period_us < 20 || l.period_us > 1000000) {
			ret = -EINVAL;
		} else {
			lat_fires = lat_max = lat_sum = lat_over1 = lat_over10 = lat_calls = 0;
			lat_bad = 0;
			lat_echo = l.echo_number;
			lat_period = ns_to_ktime((u64)l.period_us * 1000);
			hrtimer_init(&lat_timer, CLOCK_MONOTONIC, HRTIMER_MODE_REL_HARD);
			lat_timer.function = lat_tick;
			lat_running = true;
			f->latency = true;
			lat_start = ktime_get();
			hrtimer_start(&lat_timer, lat_period, HRTIMER_MODE_REL_HARD);
		}
	} else if (l.op == GMLAB_LAT_STOP) {
		if (!lat_running || !f->latency) {
			ret = -EINVAL;
		} else {
			lat_stop(&l);
			f->latency = false;
			ret = copy_to_user(arg, &l, sizeof(l)) ? -EFAULT : 0;
		}
	} else {
		ret = -EINVAL;
	}
	mutex_unlock(&lat_lock);
	return ret;
}

/* ---- GMLAB_IOC_TRY: privileged instructions with their exception caught ---- */

/*
 * Each helper runs one instruction under an EX_TYPE_FAULT exception-table entry: on an
 * exception the kernel puts the vector in rax and resumes after the instruction, skipping the
 * `ok` store. Returns GMLAB_TRAP_NONE or the vector.
 */
static u32 try_rdmsr(u32 msr, u64 *val)
{
	unsigned long ax = 0, dx = 0, ok = 0;

	asm volatile("1: rdmsr\n\t"
		     "mov $1, %[ok]\n\t"
		     "2:\n\t"
		     _ASM_EXTABLE_FAULT(1b, 2b)
		     : "+a"(ax), "+d"(dx), [ok] "+r"(ok) : "c"(msr) : "memory");
	if (!ok)
		return (u32)ax;
	*val = (dx << 32) | (u32)ax;
	return GMLAB_TRAP_NONE;
}

static u32 try_rdmsr_prefixed(u32 msr, u64 *val, u64 *rcx_after)
{
	unsigned long ax = 0, dx = 0, cx = msr, ok = 0;

	asm volatile("1: .byte 0x2e, 0x0f, 0x32\n\t"	/* cs rdmsr */
		     ".byte 0xd1, 0xf9\n\t"		/* sar ecx, 1 (see GMLAB_TRY_RDMSR_PREFIXED) */
		     "mov $1, %[ok]\n\t"
		     "2:\n\t"
		     _ASM_EXTABLE_FAULT(1b, 2b)
		     : "+a"(ax), "+d"(dx), "+c"(cx), [ok] "+r"(ok) : : "memory", "cc");
	*rcx_after = cx;
	if (!ok)
		return (u32)ax;
	*val = (dx << 32) | (u32)ax;
	return GMLAB_TRAP_NONE;
}

static u32 try_wrmsr(u32 msr, u64 val)
{
	unsigned long ax = (u32)val, ok = 0;

	asm volatile("1: wrmsr\n\t"
		     "mov $1, %[ok]\n\t"
		     "2:\n\t"
		     _ASM_EXTABLE_FAULT(1b, 2b)
		     : "+a"(ax), [ok] "+r"(ok) : "c"(msr), "d"((u32)(val >> 32)) : "memory");
	return ok ? GMLAB_TRAP_NONE : (u32)ax;
}

static u32 try_write_cr0(unsigned long val)
{
	unsigned long ax = 0, ok = 0;

	asm volatile("1: mov %[v], %%cr0\n\t"
		     "mov $1, %[ok]\n\t"
		     "2:\n\t"
		     _ASM_EXTABLE_FAULT(1b, 2b)
		     : "+a"(ax), [ok] "+r"(ok) : [v] "r"(val) : "memory");
	return ok ? GMLAB_TRAP_NONE : (u32)ax;
}

static unsigned long read_cr0_raw(void)
{
	unsigned long v;

	asm volatile("mov %%cr0, %0" : "=r"(v));
	return v;
}

static u64 xgetbv0(void)
{
	u32 lo, hi;

	asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return ((u64)hi << 32) | lo;
}

static u32 try_xsetbv0(u64 val)
{
	unsigned long ax = (u32)val, ok = 0;

	asm volatile("1: xsetbv\n\t"
		     "mov $1, %[ok]\n\t"
		     "2:\n\t"
		     _ASM_EXTABLE_FAULT(1b, 2b)
		     : "+a"(ax), [ok] "+r"(ok) : "c"(0), "d"((u32)(val >> 32)) : "memory");
	return ok ? GMLAB_TRAP_NONE : (u32)ax;
}

static u32 try_read64(const void __iomem *p, u64 *val)
{
	unsigned long ax = 0, ok = 0, v = 0;

	asm volatile("1: mov (%[p]), %[v]\n\t"
		     "mov $1, %[ok]\n\t"
		     "2:\n\t"
		     _ASM_EXTABLE_FAULT(1b, 2b)
		     : "+a"(ax), [ok] "+r"(ok), [v] "+r"(v) : [p] "r"(p) : "memory");
	*val = v;
	return ok ? GMLAB_TRAP_NONE : (u32)ax;
}

static long gmlab_phys_read_try(struct gmlab_try *t)
{
	u64 gpa = t->arg[0], n = t->arg[1], stride = t->arg[2], i;

	if (n == 0 || n > 4096 || (gpa & 7))
		return -EINVAL;
	t->out[0] = t->out[1] = t->out[2] = 0;
	t->trap = GMLAB_TRAP_NONE;
	for (i = 0; i < n && t->trap == GMLAB_TRAP_NONE; i++) {
		u64 a = gpa + i * stride, v = 0;
		void __iomem *map;

		if (region_intersects(a & PAGE_MASK, PAGE_SIZE, IORESOURCE_SYSTEM_RAM,
				      IORES_DESC_NONE) != REGION_DISJOINT)
			return -EPERM;
		map = ioremap(a & PAGE_MASK, PAGE_SIZE);
		if (!map)
			return -EINVAL;
		t->trap = try_read64(map + (a & ~PAGE_MASK), &v);
		iounmap(map);
		if (t->trap == GMLAB_TRAP_NONE) {
			t->out[0]++;
			t->out[1] ^= v;
			t->out[2] = v;
		}
		cond_resched();
	}
	return 0;
}

/* GMLAB_TRY_STI_SHADOW: the hrtimer runs in the local APIC timer interrupt, whose entry sets the
 * interrupted registers (get_irq_regs()). */
static unsigned long shadow_irq_ip;
static bool shadow_fired;

static enum hrtimer_restart shadow_timer_fn(struct hrtimer *t)
{
	struct pt_regs *regs = get_irq_regs();

	shadow_irq_ip = regs ? regs->ip : 1;
	WRITE_ONCE(shadow_fired, true);
	return HRTIMER_NORESTART;
}

static bool timer_irq_pending(void)
{
	return apic_read(APIC_IRR + ((LOCAL_TIMER_VECTOR >> 5) << 4)) & BIT(LOCAL_TIMER_VECTOR & 31);
}

static long try_sti_shadow(struct gmlab_try *t)
{
	struct hrtimer timer;
	unsigned long flags, after, a = 0, b, c = 0, d, waited;
	bool pending;
	long ret = 0;

	hrtimer_init_on_stack(&timer, CLOCK_MONOTONIC, HRTIMER_MODE_REL_HARD);
	timer.function = shadow_timer_fn;
	shadow_irq_ip = 0;
	WRITE_ONCE(shadow_fired, false);
	local_irq_save(flags);
	hrtimer_start(&timer, ns_to_ktime(1), HRTIMER_MODE_REL_HARD);
	/* Wait (interrupts off: nothing can take it) until the local APIC holds the timer's
	 * interrupt in its IRR, then let the STI shadow decide where it lands. */
	for (waited = 0; waited < 100000 && !timer_irq_pending(); waited += 10)
		udelay(10);
	pending = timer_irq_pending();
	asm volatile("lea 1f(%%rip), %[after]\n\t"
		     "sti\n\t"
		     "cpuid\n"
		     "1:\tnop\n\t"
		     "nop\n\t"
		     "cli"
		     : [after] "=&r"(after), "+a"(a), "=b"(b), "+c"(c), "=d"(d)
		     :
		     : "memory");
	local_irq_restore(flags);
	hrtimer_cancel(&timer);
	destroy_hrtimer_on_stack(&timer);
	if (!pending || !READ_ONCE(shadow_fired))
		ret = -EBUSY;
	t->out[0] = shadow_irq_ip;
	t->out[1] = after;
	return ret;
}

static long gmlab_try(void __user *arg)
{
	struct gmlab_try t;
	unsigned long flags;
	long ret = 0;

	if (copy_from_user(&t, arg, sizeof(t)))
		return -EFAULT;
	memset(t.out, 0, sizeof(t.out));
	t.trap = GMLAB_TRAP_NONE;
	switch (t.op) {
	case GMLAB_TRY_RDMSR:
		t.trap = try_rdmsr((u32)t.arg[0], &t.out[0]);
		break;
	case GMLAB_TRY_WRMSR:
		t.trap = try_wrmsr((u32)t.arg[0], t.arg[1]);
		break;
	case GMLAB_TRY_WRMSR_RESTORE:
		local_irq_save(flags);
		if (try_rdmsr((u32)t.arg[0], &t.out[0]) != GMLAB_TRAP_NONE) {
			ret = -EIO;	/* nothing to restore to */
		} else {
			t.trap = try_wrmsr((u32)t.arg[0], t.arg[1]);
			if (t.trap == GMLAB_TRAP_NONE) {
				try_rdmsr((u32)t.arg[0], &t.out[1]);
				try_wrmsr((u32)t.arg[0], t.out[0]);
			}
		}
		local_irq_restore(flags);
		break;
	case GMLAB_TRY_CR0:
		local_irq_save(flags);
		t.out[0] = read_cr0_raw();
		t.trap = try_write_cr0(t.arg[0]);
		if (t.trap == GMLAB_TRAP_NONE) {
			t.out[1] = read_cr0_raw();
			try_write_cr0(t.out[0]);
		}
		local_irq_restore(flags);
		break;
	case GMLAB_TRY_XSETBV:
		if (!(native_read_cr4() & X86_CR4_OSXSAVE))
			return -EOPNOTSUPP;
		local_irq_save(flags);
		t.out[0] = xgetbv0();
		t.trap = try_xsetbv0(t.arg[0]);
		if (t.trap == GMLAB_TRAP_NONE) {
			t.out[1] = xgetbv0();
			try_xsetbv0(t.out[0]);
		}
		local_irq_restore(flags);
		break;
	case GMLAB_TRY_PHYS_READ:
		ret = gmlab_phys_read_try(&t);
		break;
	case GMLAB_TRY_READ_CR0:
		t.out[0] = read_cr0_raw();
		break;
	case GMLAB_TRY_RDMSR_PREFIXED:
		t.trap = try_rdmsr_prefixed((u32)t.arg[0], &t.out[0], &t.out[1]);
		break;
	case GMLAB_TRY_STI_SHADOW:
		ret = try_sti_shadow(&t);
		break;
	default:
		return -EINVAL;
	}
	if (ret)
		return ret;
	return copy_to_user(arg, &t, sizeof(t)) ? -EFAULT : 0;
}

static int gmlab_open(struct inode *inode, struct file *file)
{
	struct gmlab_file *f = kzalloc(sizeof(*f), GFP_KERNEL);

	if (!f)
		return -ENOMEM;
	mutex_init(&f->lock);
	file->private_data = f;
	return 0;
}

static int gmlab_release(struct inode *inode, struct file *file)
{
	struct gmlab_file *f = file->private_data;

	if (f->latency) {
		mutex_lock(&lat_lock);
		lat_stop(NULL);
		mutex_unlock(&lat_lock);
	}
	kbuf_free(f);
	kfree(f);
	return 0;
}

static long gmlab_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;
	struct gmlab_file *f = file->private_data;
	long ret;

	switch (cmd) {
	case GMLAB_IOC_KBUF_ALLOC:
	case GMLAB_IOC_KBUF_READ:
	case GMLAB_IOC_KBUF_WRITE:
		mutex_lock(&f->lock);
		ret = cmd == GMLAB_IOC_KBUF_ALLOC ? gmlab_kbuf_alloc(f, uarg)
						  : gmlab_kbuf_io(f, uarg, cmd == GMLAB_IOC_KBUF_WRITE);
		mutex_unlock(&f->lock);
		return ret;
	case GMLAB_IOC_KBUF_ALIAS:
	case GMLAB_IOC_ALIAS_PTE:
		mutex_lock(&f->lock);
		ret = cmd == GMLAB_IOC_KBUF_ALIAS ? gmlab_kbuf_alias(f, uarg) : gmlab_alias_pte(f, uarg);
		mutex_unlock(&f->lock);
		return ret;
	case GMLAB_IOC_LATENCY:
		return gmlab_latency(f, uarg);
	case GMLAB_IOC_USER_PMD:
		return gmlab_user_pmd(uarg);
	case GMLAB_IOC_LOOKUP:
		return gmlab_lookup(uarg);
	case GMLAB_IOC_CALL:
		return gmlab_call(uarg);
	case GMLAB_IOC_PHYS_READ:
		return gmlab_phys(uarg, false);
	case GMLAB_IOC_PHYS_WRITE:
		return gmlab_phys(uarg, true);
	case GMLAB_IOC_TRY:
		return gmlab_try(uarg);
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
	.open = gmlab_open,
	.release = gmlab_release,
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
