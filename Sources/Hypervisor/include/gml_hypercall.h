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

/* gmlab.info */
#define GML_INFO_MAGIC 0x474d4c4142ull /* "GMLAB" */
#define GML_BACKEND_SVM 1
#define GML_BACKEND_VMX 2

#endif
