/* User-space side of the hypercall library: vendor choice and the SIGILL-guarded probe. */
#include <setjmp.h>
#include <signal.h>
#include <string.h>

#include "hypercall.h"

enum hc_insn hc_insn(void)
{
	static enum hc_insn cached;

	if (!cached)
		cached = hc_insn_for_cpu();
	return cached;
}

const char *hc_insn_name(enum hc_insn insn)
{
	return insn == HC_INSN_VMMCALL ? "vmmcall" : "vmcall";
}

static sigjmp_buf probe_env;

static void probe_sigill(int sig)
{
	(void)sig;
	siglongjmp(probe_env, 1);
}

enum hc_presence hc_probe_name(const char *name, unsigned long *number)
{
	struct sigaction sa, old;
	/* volatile: read after siglongjmp */
	volatile enum hc_presence presence = HC_ABSENT;
	struct hc_regs r;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = probe_sigill;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGILL, &sa, &old) != 0)
		return HC_ABSENT;
	/* savemask=1 so the SIGILL we jump out of is unblocked again */
	if (sigsetjmp(probe_env, 1) == 0) {
		r = (struct hc_regs){ .rax = 0, .rbx = (unsigned long)name };
		hc_raw(hc_insn(), &r);
		presence = HC_PRESENT;
		if (number)
			*number = r.rax;
	}
	sigaction(SIGILL, &old, NULL);
	return presence;
}

enum hc_presence hc_probe(void)
{
	return hc_probe_name("gmlab.info", NULL);
}

unsigned long hc_lookup(const char *name)
{
	return hc_lookup_insn(hc_insn(), name, NULL);
}

unsigned long hc_call(unsigned long num, struct hc_regs *io)
{
	hc_call_insn(hc_insn(), num, io);
	return io->rax;
}
