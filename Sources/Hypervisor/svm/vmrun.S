/* void svm_vmrun(u64 vmcb_pa, u64 *gpr)
 * Enters the guest with the 14 GPRs from gpr[] (rax and rsp live in the VMCB), returns at the
 * next #VMEXIT with the guest's GPRs stored back into gpr[]. gpr[] is indexed like
 * enum general_reg: rax rcx rdx rbx rsp rbp rsi rdi r8..r15 (8 bytes each).
 * VMLOAD/VMSAVE move the state VMRUN does not (FS/GS/TR/LDTR bases, syscall MSRs) so the VMCB
 * always holds the guest's full state; the hypervisor itself never uses those registers. */
	.text
	.code64
	.globl svm_vmrun
svm_vmrun:
	push %rbx
	push %rbp
	push %r12
	push %r13
	push %r14
	push %r15
	push %rsi		/* gpr pointer, reloaded after the exit */
	mov %rdi, %rax		/* rax = VMCB physical address for vmload/vmrun/vmsave */
	mov 8*1(%rsi), %rcx
	mov 8*2(%rsi), %rdx
	mov 8*3(%rsi), %rbx
	mov 8*5(%rsi), %rbp
	mov 8*7(%rsi), %rdi
	mov 8*8(%rsi), %r8
	mov 8*9(%rsi), %r9
	mov 8*10(%rsi), %r10
	mov 8*11(%rsi), %r11
	mov 8*12(%rsi), %r12
	mov 8*13(%rsi), %r13
	mov 8*14(%rsi), %r14
	mov 8*15(%rsi), %r15
	mov 8*6(%rsi), %rsi
	vmload %rax
	vmrun %rax
	vmsave %rax
	/* Host rax, rsp, rip are back (from the host save area); the guest's GPRs are live. */
	push %rsi
	mov 8(%rsp), %rsi	/* gpr pointer */
	mov %rcx, 8*1(%rsi)
	mov %rdx, 8*2(%rsi)
	mov %rbx, 8*3(%rsi)
	mov %rbp, 8*5(%rsi)
	mov %rdi, 8*7(%rsi)
	mov %r8, 8*8(%rsi)
	mov %r9, 8*9(%rsi)
	mov %r10, 8*10(%rsi)
	mov %r11, 8*11(%rsi)
	mov %r12, 8*12(%rsi)
	mov %r13, 8*13(%rsi)
	mov %r14, 8*14(%rsi)
	mov %r15, 8*15(%rsi)
	pop %rcx		/* guest rsi */
	mov %rcx, 8*6(%rsi)
	pop %rsi
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbp
	pop %rbx
	ret
