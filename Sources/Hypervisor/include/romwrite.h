/* The ROM write-discard step, backend-neutral (README "Nested paging and the ROM trick").
 *
 * Region pages map one zero page read-only. A guest write to one takes a nested fault; the
 * backend calls romwrite_fault(), which backs that page with a zeroed scratch page, writable,
 * and asks the backend to single-step the faulting instruction (step_arm). The step ends when
 * the backend sees the instruction finish *or fail*: its single-step trap, or any exception the
 * instruction raised (the backend intercepts them all while stepping), and calls romwrite_end():
 * the zero page goes back, the scratch pages are wiped and the backend stops stepping
 * (step_disarm). The backend then delivers whatever the guest itself is owed (its own #DB, the
 * exception the instruction raised) with the guest's own RFLAGS. Only how the step is armed and
 * how its end is seen differs between SVM and VMX; this file owns the pages and the counting.
 */
#ifndef HV_ROMWRITE_H
#define HV_ROMWRITE_H
#include "types.h"

struct vcpu;
struct nested;

/* Region pages one instruction may write before it completes. Architecturally at most 32 (an
 * AVX-512 scatter: 16 elements, each may straddle two pages); XSAVE of the largest area, ENTER
 * with nesting 31 and MOVDIR64B stay below that. REP string instructions trap per iteration. */
#define ROMWRITE_MAX_PAGES 64

struct romwrite_hooks {
	struct nested *nested;
	/* Make nested-table changes visible to the guest (TLB flush / INVEPT). */
	void (*flush)(void);
	/* Single-step the current guest instruction from the next entry on (and intercept every
	 * exception it can raise, so a failing instruction also ends the step). */
	void (*step_arm)(void);
	/* Stop stepping; the guest's own RFLAGS.TF / debug state as before step_arm. */
	void (*step_disarm)(void);
	/* Give the guest #GP(0) (an instruction beyond ROMWRITE_MAX_PAGES; see romwrite.c). */
	void (*inject_gp)(void);
};

void romwrite_init(const struct romwrite_hooks *hooks);
/* A present+write nested fault at gpa, which lies in a hypervisor region. */
void romwrite_fault(struct vcpu *v, u64 gpa);
/* Is a step live (the scratch pages mapped)? */
bool romwrite_stepping(void);
/* The stepped instruction completed or raised an exception: unmap and wipe the scratch pages,
 * stop stepping. Safe to call when no step is live (does nothing). */
void romwrite_end(void);
/* Steps ended so far (for the fatal dumps). */
u64 romwrite_steps(void);

#endif
