/* The other vendor's hypercall instruction (issue 14, as KVM does): code written for Intel
 * (`vmcall`, like the seed's) raises #UD on AMD, and `vmmcall` raises #UD on Intel. Both
 * backends intercept #UD; when the faulting instruction is the other vendor's hypercall, it is a
 * hypercall like the native one. The native instruction stays the fast path (its own exit); this
 * one costs an extra guest-memory read of the three opcode bytes. */
#include "hypercall.h"
#include "guestmem.h"
#include "gml_copy.h"
#include "lib.h"

bool hypercall_is_insn_at(u64 rip, const u8 opcode[HYPERCALL_INSN_LEN])
{
	struct gml_walker w;
	u8 bytes[HYPERCALL_INSN_LEN];

	guest_walker(&w);
	/* Read with the caller's own rights: a page it could not read gives "no" (plain #UD). */
	if (gml_copy_from_guest_linear(&w, guest_phys(), bytes, rip, sizeof(bytes), NULL) != GML_OK)
		return false;
	return memcmp(bytes, opcode, sizeof(bytes)) == 0;
}
