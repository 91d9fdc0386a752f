/* The guest-visible hypercall ABI (mirrored by Sources/Guest). Dependency-free on purpose.
 *
 *   rax = 0, rbx = guest-linear address of a NUL-terminated name (<= 255 chars)
 *       -> rax = service number (> 0), or 0 if unknown / unterminated / unreadable.
 *   rax = n, args in rbx rcx rdx rsi rdi -> results as the service defines;
 *       every other register is preserved. Unused n -> rax = GML_HC_ENOSYS.
 *   Instruction: vmmcall (AMD SVM) / vmcall (Intel VMX); allowed from CPL0 and CPL3.
 */
#ifndef GML_HYPERCALL_H
#define GML_HYPERCALL_H

#define GML_HC_LOOKUP 0
#ifndef GML_HC_ENOSYS
#define GML_HC_ENOSYS 0xFFFFFFFFFFFFFFFFull /* same value as core/include/gml_errors.h */
#endif

/* rax = GML_HC_FLOOR: the floor, answered at the very top of the exit path (no dispatch, no
 * service, no register copies beyond the backend's own): RIP past the instruction, every
 * register unchanged (rax stays GML_HC_FLOOR, which no other answer returns). lab bench times it
 * as the emulator's bare exit round trip, the floor every hypervisor's null hypercall stands on
 * (issue 10). Elsewhere it is an unused number (BitVisor: rax = 0). */
#define GML_HC_FLOOR 0x474d4c464c4f4f52ull /* "GMLFLOOR" */

/* gmlab.info */
#define GML_INFO_MAGIC 0x474d4c4142ull /* "GMLAB" */
#define GML_BACKEND_SVM 1
#define GML_BACKEND_VMX 2

#endif
