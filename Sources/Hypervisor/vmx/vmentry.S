/* int vmx_enter(u64 *gpr, int launched)
 * Enters the guest of the current VMCS with the 15 GPRs from gpr[] (rsp lives in the VMCS:
 * GUEST_RSP), by VMLAUNCH the first time and VMRESUME after. Returns 0 at the next VM exit with
 * the guest's GPRs stored back into gpr[] (indexed like enum general_reg: rax rcx rdx rbx rsp
 * rbp rsi rdi r8..r15), 1 on VMfailInvalid, 2 on VMfailValid (VM_INSTRUCTION_ERROR says why).
 * HOST_RSP is set here to the stack pointer at entry, HOST_RIP (set once) is vmx_exit_stub. */
#define HOST_RSP 0x6c14
	.text
	.code64
	.globl vmx_enter
vmx_enter:
	push %rbx
	push %rbp
	push %r12
	push %r13
	push %r14
	push %r15
	push %rdi		/* gpr pointer, found again at (%rsp) after the exit */
	mov $HOST_RSP, %eax
	vmwrite %rsp, %rax
	jbe vmx_fail		/* CF or ZF: the VMCS is not usable */
	cmp $0, %esi		/* launched? (mov below leaves the flags alone) */
	mov 8*0(%rdi), %rax
	mov 8*1(%rdi), %rcx
	mov 8*2(%rdi), %rdx
	mov 8*3(%rdi), %rbx
	mov 8*5(%rdi), %rbp
	mov 8*6(%rdi), %rsi
	mov 8*8(%rdi), %r8
	mov 8*9(%rdi), %r9
	mov 8*10(%rdi), %r10
	mov 8*11(%rdi), %r11
	mov 8*12(%rdi), %r12
	mov 8*13(%rdi), %r13
	mov 8*14(%rdi), %r14
	mov 8*15(%rdi), %r15
	mov 8*7(%rdi), %rdi
	jne 1f
	vmlaunch
	jmp vmx_fail
1:	vmresume
vmx_fail:
	/* Still on the host: rsp as at the vmwrite. CF=1 VMfailInvalid, ZF=1 VMfailValid. */
	mov $2, %eax
	jz 2f
	mov $1, %eax
2:	add $8, %rsp
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbp
	pop %rbx
	ret

	.globl vmx_exit_stub
vmx_exit_stub:
	/* VM exit: rsp = HOST_RSP (gpr pointer on top), guest GPRs live, RFLAGS = 2 (IF=0). */
	push %rdi
	mov 8(%rsp), %rdi
	mov %rax, 8*0(%rdi)
	mov %rcx, 8*1(%rdi)
	mov %rdx, 8*2(%rdi)
	mov %rbx, 8*3(%rdi)
	mov %rbp, 8*5(%rdi)
	mov %rsi, 8*6(%rdi)
	mov %r8, 8*8(%rdi)
	mov %r9, 8*9(%rdi)
	mov %r10, 8*10(%rdi)
	mov %r11, 8*11(%rdi)
	mov %r12, 8*12(%rdi)
	mov %r13, 8*13(%rdi)
	mov %r14, 8*14(%rdi)
	mov %r15, 8*15(%rdi)
	pop %rax		/* guest rdi */
	mov %rax, 8*7(%rdi)
	add $8, %rsp
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbp
	pop %rbx
	xor %eax, %eax
	ret
