/* The ROM write-discard step shared by both backends (include/romwrite.h). No printing here:
 * it runs on the exit path. */
#include "romwrite.h"
#include "vcpu.h"
#include "nested.h"
#include "hvmem.h"
#include "lib.h"

static struct {
	struct romwrite_hooks hooks;
	bool stepping;
	int npages;
	u64 gpa[ROMWRITE_MAX_PAGES];
	u8 *scratch[ROMWRITE_MAX_PAGES];
	u64 steps, refused;
} rw;

void romwrite_init(const struct romwrite_hooks *hooks)
{
	rw.hooks = *hooks;
	for (int i = 0; i < ROMWRITE_MAX_PAGES; i++)
		rw.scratch[i] = alloc_page();
}

bool romwrite_stepping(void)
{
	return rw.stepping;
}

u64 romwrite_steps(void)
{
	return rw.steps;
}

static void restore_pages(void)
{
	for (int i = 0; i < rw.npages; i++) {
		*nested_region_pte(rw.hooks.nested, rw.gpa[i]) = nested_rom_entry(rw.hooks.nested);
		memset(rw.scratch[i], 0, PAGE_SIZE);
	}
	rw.npages = 0;
}

void romwrite_fault(struct vcpu *v, u64 gpa)
{
	u64 page = ALIGN_DOWN(gpa, PAGE_SIZE);

	for (int i = 0; i < rw.npages; i++) {
		if (rw.gpa[i] == page) {
			/* Already writable: a stale translation. Flush and let the guest retry. */
			rw.hooks.flush();
			return;
		}
	}
	if (rw.npages == ROMWRITE_MAX_PAGES) {
		/* More region pages than any one instruction can write: not an instruction we can
		 * step. Undo and refuse it as the CPU refuses what it cannot do, never power off. */
		romwrite_end();
		rw.refused++;
		rw.hooks.inject_gp();
		return;
	}
	int i = rw.npages++;
	rw.gpa[i] = page;
	*nested_region_pte(rw.hooks.nested, page) =
		nested_rw_entry(rw.hooks.nested, virt_to_phys(rw.scratch[i]));
	v->rom_writes++;
	if (!rw.stepping) {
		rw.stepping = true;
		rw.hooks.step_arm();
	}
	rw.hooks.flush();
}

void romwrite_end(void)
{
	if (!rw.stepping)
		return;
	restore_pages();
	rw.hooks.flush();
	rw.stepping = false;
	rw.steps++;
	rw.hooks.step_disarm();
}
