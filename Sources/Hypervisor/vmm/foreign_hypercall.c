/* The other vendor's hypercall instruction (issue 14, as KVM does): code written for Intel
 * (`vmcall`, like the seed's) raises #UD on AMD, and `vmmcall` raises #UD on Intel. Both
 * backends intercept #UD; when the faulting instruction is the other vendor's hypercall, it is a
 * hypercall like the native one. The native instruction stays the fast path (its own exit); this
 * one costs an extra guest-memory read of its bytes. */
#include "hypercall.h"
#include "guestmem.h"

unsigned hypercall_foreign_len(u64 lin, bool mode64, enum gml_insn insn)
{
	/* Fetched with the caller's own rights: a page it could not fetch from gives 0 (plain
	 * #UD); prefixes the CPU ignores are part of the instruction (`2e 0f 01 c1`). */
	return guest_insn_len(lin, mode64, insn);
}
