/* Checks of guest-chosen values (gml_guestinput.h). */
#include "gml_guestinput.h"
#include "gml_copy.h"
#include "x86_bits.h"

bool gml_msr_hidden(u32 msr)
{
	return (msr >= X86_MSR_HYPERVISOR_FIRST && msr <= X86_MSR_HYPERVISOR_LAST) ||
	       (msr >= X86_MSR_KVM_FIRST && msr <= X86_MSR_KVM_LAST) ||
	       msr == X86_MSR_KVM_WALL_CLOCK || msr == X86_MSR_KVM_SYSTEM_TIME ||
	       (msr >= X86_MSR_AMD_SVM_FIRST && msr <= X86_MSR_AMD_SVM_LAST);
}

bool gml_cpuid_hidden(u32 leaf)
{
	return leaf >= X86_CPUID_HYPERVISOR_FIRST && leaf <= X86_CPUID_HYPERVISOR_LAST;
}

bool gml_io_overlaps(u32 port, u32 size, u32 base, u32 n)
{
	return port < base + n && base < port + size;
}

bool gml_xsetbv_valid(u32 index, u64 v, u64 supported)
{
	const u64 mpx = X86_XCR0_BNDREGS | X86_XCR0_BNDCSR;
	const u64 amx = X86_XCR0_XTILECFG | X86_XCR0_XTILEDATA;

	if (index != 0 || !(v & X86_XCR0_X87) || (v & ~supported))
		return false;
	if ((v & X86_XCR0_AVX) && !(v & X86_XCR0_SSE))
		return false;
	if ((v & mpx) && (v & mpx) != mpx)
		return false;
	if ((v & X86_XCR0_AVX512) && ((v & X86_XCR0_AVX512) != X86_XCR0_AVX512 || !(v & X86_XCR0_AVX)))
		return false;
	if ((v & amx) && (v & amx) != amx)
		return false;
	return true;
}

u64 gml_efer_writable(u32 ext1_ecx, u32 ext1_edx)
{
	u64 w = X86_EFER_SCE | X86_EFER_LME | X86_EFER_NXE;

	if (!(ext1_edx & X86_CPUID_80000001_EDX_SYSCALL))
		w &= ~X86_EFER_SCE;
	if (!(ext1_edx & X86_CPUID_80000001_EDX_LM))
		w &= ~X86_EFER_LME;
	if (!(ext1_edx & X86_CPUID_80000001_EDX_NX))
		w &= ~X86_EFER_NXE;
	if (ext1_edx & X86_CPUID_80000001_EDX_FFXSR)
		w |= X86_EFER_FFXSR;
	if (ext1_ecx & X86_CPUID_80000001_ECX_TCE)
		w |= X86_EFER_TCE;
	return w;
}

bool gml_cr0_write_valid(u64 v)
{
	if (v >> 32)
		return false;
	if ((v & X86_CR0_PG) && !(v & X86_CR0_PE))
		return false;
	if ((v & X86_CR0_NW) && !(v & X86_CR0_CD))
		return false;
	return true;
}

/* EXITINTINFO / EVENTINJ layout (AMD APM vol. 2, 15.20): vector 7:0, type 10:8, valid 31. */
#define SVM_EVENT_VALID (1ULL << 31)
#define SVM_EVENT_TYPE(e) (((e) >> 8) & 7)
#define SVM_EVENT_TYPE_EXCEPTION 3
#define SVM_EVENT_TYPE_SOFT_INT 4

bool gml_svm_event_reexecutes(u64 e)
{
	if (!(e & SVM_EVENT_VALID))
		return false;
	if (SVM_EVENT_TYPE(e) == SVM_EVENT_TYPE_SOFT_INT)
		return true;
	return SVM_EVENT_TYPE(e) == SVM_EVENT_TYPE_EXCEPTION &&
	       ((e & 0xff) == X86_EXC_BP || (e & 0xff) == X86_EXC_OF);
}

static bool exc_contributory(unsigned v)
{
	return v == 0 || (v >= 10 && v <= 13);
}

unsigned gml_svm_fault_during_event(u64 e, unsigned vector)
{
	unsigned first = (unsigned)(e & 0xff);

	if (!(e & SVM_EVENT_VALID) || SVM_EVENT_TYPE(e) != SVM_EVENT_TYPE_EXCEPTION)
		return vector;
	if (first == 8 && (exc_contributory(vector) || vector == X86_EXC_PF))
		return GML_EXC_SHUTDOWN;
	if ((exc_contributory(first) && exc_contributory(vector)) ||
	    (first == X86_EXC_PF && (exc_contributory(vector) || vector == X86_EXC_PF)))
		return 8;
	return vector;
}

/* VMCB segment attributes: type 3:0, S (code/data) 4. */
#define SVM_SEG_TYPE_MASK 0xf
#define SVM_SEG_S (1u << 4)
#define TSS64_AVAILABLE 0x9
#define TSS64_BUSY 0xb

u16 gml_svm_tr_attrib(u16 attrib)
{
	if ((attrib & SVM_SEG_S) || (attrib & SVM_SEG_TYPE_MASK) != TSS64_BUSY)
		return attrib;
	return (u16)((attrib & ~SVM_SEG_TYPE_MASK) | TSS64_AVAILABLE);
}

static bool legacy_prefix(u8 b)
{
	switch (b) {
	case 0x26: case 0x2e: case 0x36: case 0x3e: case 0x64: case 0x65: /* segment overrides */
	case 0x66: case 0x67:                                             /* operand, address size */
	case 0xf0: case 0xf2: case 0xf3:                                  /* LOCK, REPNE, REP */
		return true;
	default:
		return false;
	}
}

unsigned gml_insn_len(const u8 *bytes, unsigned n, bool mode64, enum gml_insn *insn)
{
	unsigned i = 0, len;
	enum gml_insn id;

	*insn = GML_INSN_UNKNOWN;
	if (n > GML_INSN_MAX_LEN)
		n = GML_INSN_MAX_LEN;
	while (i < n && (legacy_prefix(bytes[i]) || (mode64 && (bytes[i] & 0xf0) == 0x40)))
		i++;
	if (i + 2 > n || bytes[i] != 0x0f)
		return 0;
	switch (bytes[i + 1]) {
	case 0xa2:
		id = GML_INSN_CPUID;
		len = i + 2;
		break;
	case 0x32:
		id = GML_INSN_RDMSR;
		len = i + 2;
		break;
	case 0x30:
		id = GML_INSN_WRMSR;
		len = i + 2;
		break;
	case 0x01:
		if (i + 3 > n)
			return 0;
		if (bytes[i + 2] == 0xc1)
			id = GML_INSN_VMCALL;
		else if (bytes[i + 2] == 0xd9)
			id = GML_INSN_VMMCALL;
		else
			return 0;
		len = i + 3;
		break;
	default:
		return 0;
	}
	*insn = id;
	return len;
}

unsigned gml_insn_len_at(const struct gml_walker *w, const struct gml_phys *phys, u64 lin,
			 bool mode64, enum gml_insn *insn)
{
	u8 bytes[GML_INSN_MAX_LEN];
	unsigned n = 0, len = 0;

	*insn = GML_INSN_UNKNOWN;
	while (n < GML_INSN_MAX_LEN) {
		u64 addr = mode64 ? lin + n : (u32)(lin + n);
		struct gml_walk walk;
		u64 chunk;

		if (gml_translate(w, addr, GML_ACC_EXEC | GML_ACC_NO_AD, &walk) != GML_OK)
			break;
		chunk = walk.page_size - (addr & (walk.page_size - 1));
		if (!mode64 && chunk > 0x100000000ULL - addr)
			chunk = 0x100000000ULL - addr; /* the 4 GiB wrap: the rest is at 0 */
		if (chunk > GML_INSN_MAX_LEN - n)
			chunk = GML_INSN_MAX_LEN - n;
		if (gml_copy_from_guest_phys(phys, bytes + n, walk.gpa, chunk, NULL) != GML_OK)
			break;
		n += (unsigned)chunk;
		len = gml_insn_len(bytes, n, mode64, insn);
		if (len)
			break;
	}
	return len;
}
