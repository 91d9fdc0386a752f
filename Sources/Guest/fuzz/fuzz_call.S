/*
 * void gmlfuzz_vmcall(struct gmlfuzz_regs *r);   Intel
 * void gmlfuzz_vmmcall(struct gmlfuzz_regs *r);  AMD
 *
 * Load every general register but rsp from *r, execute the hypercall instruction, store every
 * register back into *r: the caller sees exactly what the hypervisor changed. In asm because
 * the compiler owns rbp and r8-r15. Assembled twice: for the user-space fuzzer (CPL3) and
 * into gmlfuzz.ko (CPL0), where the caller has checked the instruction does not raise #UD.
 * Layout (gmlfuzz_ioctl.h): 0 rax 8 rbx 16 rcx 24 rdx 32 rsi 40 rdi 48 rbp 56 r8 .. 112 r15
 */
#ifdef __KERNEL__
#include <linux/linkage.h>
#define FUZZ_FUNC_START(name) SYM_FUNC_START(name)
#define FUZZ_FUNC_END(name) SYM_FUNC_END(name)
#else
#define FUZZ_FUNC_START(name) .globl name; .type name, @function; name:
#define FUZZ_FUNC_END(name) .size name, .-name
#define RET ret
#endif

.macro FUZZ_HYPERCALL insn
	push %rbp
	push %rbx
	push %r12
	push %r13
	push %r14
	push %r15
	push %rdi			/* r, needed after the call */
	mov 0(%rdi), %rax
	mov 8(%rdi), %rbx
	mov 16(%rdi), %rcx
	mov 24(%rdi), %rdx
	mov 32(%rdi), %rsi
	mov 48(%rdi), %rbp
	mov 56(%rdi), %r8
	mov 64(%rdi), %r9
	mov 72(%rdi), %r10
	mov 80(%rdi), %r11
	mov 88(%rdi), %r12
	mov 96(%rdi), %r13
	mov 104(%rdi), %r14
	mov 112(%rdi), %r15
	mov 40(%rdi), %rdi
	\insn
	xchg %rdi, (%rsp)		/* rdi = r; the stack slot keeps rdi after the call */
	mov %rax, 0(%rdi)
	mov %rbx, 8(%rdi)
	mov %rcx, 16(%rdi)
	mov %rdx, 24(%rdi)
	mov %rsi, 32(%rdi)
	mov %rbp, 48(%rdi)
	mov %r8, 56(%rdi)
	mov %r9, 64(%rdi)
	mov %r10, 72(%rdi)
	mov %r11, 80(%rdi)
	mov %r12, 88(%rdi)
	mov %r13, 96(%rdi)
	mov %r14, 104(%rdi)
	mov %r15, 112(%rdi)
	pop %rax
	mov %rax, 40(%rdi)
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbx
	pop %rbp
	RET
.endm

	.text
FUZZ_FUNC_START(gmlfuzz_vmcall)
	FUZZ_HYPERCALL vmcall
FUZZ_FUNC_END(gmlfuzz_vmcall)

FUZZ_FUNC_START(gmlfuzz_vmmcall)
	FUZZ_HYPERCALL vmmcall
FUZZ_FUNC_END(gmlfuzz_vmmcall)

#ifndef __KERNEL__
	.section .note.GNU-stack,"",@progbits
#endif
