/*
 * void hv_hypercall_allregs(const struct hv_allregs *in, struct hv_allregs *out, int vmmcall)
 *
 * Loads every general register (except rsp) from *in, executes vmcall (vmmcall != 0:
 * vmmcall), and stores every register into *out, plus rsp before and after, so the test sees
 * exactly what the hypervisor changed. Written in asm because the compiler would otherwise
 * own rbp and r8-r15. Layout of struct hv_allregs (u64 each, hv.c):
 *   0 rax  8 rbx 16 rcx 24 rdx 32 rsi 40 rdi 48 rbp 56 r8 ... 112 r15 120 rsp
 *   128 rsp_before (out only: rsp at the instruction, to compare with rsp after it)
 */
	.text
	.globl hv_hypercall_allregs
	.type hv_hypercall_allregs, @function
hv_hypercall_allregs:
	push %rbp
	push %rbx
	push %r12
	push %r13
	push %r14
	push %r15
	push %rsi			/* out, needed after the call */
	mov %rsp, 128(%rsi)		/* rsp_before */
	test %edx, %edx			/* flags survive the movs below */
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
	jnz 1f
	vmcall
	jmp 2f
1:	vmmcall
2:	push %rdi
	mov 8(%rsp), %rdi		/* out */
	mov %rax, 0(%rdi)
	mov %rbx, 8(%rdi)
	mov %rcx, 16(%rdi)
	mov %rdx, 24(%rdi)
	mov %rsi, 32(%rdi)
	pop %rax			/* rdi after the call */
	mov %rax, 40(%rdi)
	mov %rbp, 48(%rdi)
	mov %r8, 56(%rdi)
	mov %r9, 64(%rdi)
	mov %r10, 72(%rdi)
	mov %r11, 80(%rdi)
	mov %r12, 88(%rdi)
	mov %r13, 96(%rdi)
	mov %r14, 104(%rdi)
	mov %r15, 112(%rdi)
	mov %rsp, 120(%rdi)		/* rsp after (the pop above undid our push) */
	pop %rsi
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbx
	pop %rbp
	ret
	.size hv_hypercall_allregs, .-hv_hypercall_allregs

/*
 * void hv_single_step_vmcall(unsigned long service, unsigned long out[2])
 * void hv_single_step_vmmcall(unsigned long service, unsigned long out[2])
 *
 * Single-steps (RFLAGS.TF, set by popf) over a hypercall and a CPUID, the two instructions every
 * hypervisor emulates, with plain instructions between, then over a CPUID in a MOV SS shadow:
 *     nop ; <hypercall service, rbx..rdi = 1..5> ; mov rax,r9 ; mov rbx,r10 ; xor eax,eax ;
 *     cpuid ; mov ss,eax ; mov eax,ss ; cpuid
 * A CPU traps (#DB, SIGTRAP) after each instruction but the popf that set TF and the MOV to SS,
 * whose trap is held until after the next instruction and then is that instruction's one trap
 * (SDM vol. 3, 6.8.3): the trap RIPs are exactly the labels <name>_t1 .. <name>_t8 (hv.c); the
 * SIGTRAP handler clears TF at <name>_t8. out[0], out[1] = rax, rbx after the hypercall.
 */
	.macro SINGLE_STEP_PROBE name, insn
	.text
	.globl \name, \name\()_t1, \name\()_t2, \name\()_t3, \name\()_t4, \name\()_t5, \name\()_t6
	.globl \name\()_t7, \name\()_t8
	.type \name, @function
\name:
	push %rbx
	push %rsi			/* out */
	mov %rdi, %rax
	mov $1, %ebx
	mov $2, %ecx
	mov $3, %edx
	mov $4, %esi
	mov $5, %edi
	pushfq
	orq $0x100, (%rsp)		/* TF */
	popfq
	nop
\name\()_t1:
	\insn
\name\()_t2:
	mov %rax, %r9
\name\()_t3:
	mov %rbx, %r10
\name\()_t4:
	xor %eax, %eax
\name\()_t5:
	cpuid
\name\()_t6:
	mov %ss, %eax
\name\()_t7:
	mov %eax, %ss			/* no trap after it: held until after the cpuid */
	cpuid
\name\()_t8:
	pop %rsi
	mov %r9, 0(%rsi)
	mov %r10, 8(%rsi)
	pop %rbx
	ret
	.size \name, .-\name
	.endm

	SINGLE_STEP_PROBE hv_single_step_vmcall, vmcall
	SINGLE_STEP_PROBE hv_single_step_vmmcall, vmmcall
	.section .note.GNU-stack,"",@progbits
