/* Suite selftest: cases that misbehave on purpose, for the lab's own integration tests (not in
 * the default matrix). Each one exercises one way the host must cope with a bad case. */
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "gmlab_ioctl.h"
#include "report.h"

static void pass(void)
{
	report(1, "a check that passes");
}

static void fail(void)
{
	report(1, "a check that passes before the failing one");
	report(0, "a check that fails on purpose: expected 1, got 0");
}

/* User-space hang: the agent's per-case timeout (or the host's deadline) must end it. */
static void hang(void)
{
	for (;;)
		pause();
}

/* Whole-guest hang: the module spins with interrupts off, so nothing in the guest (not the
 * agent's timeout) can end it; only the host's deadline can. */
static void hang_guest(void)
{
	int fd = open("/dev/gmlab", O_RDWR);

	if (fd < 0) {
		report_error("open /dev/gmlab failed");
		return;
	}
	ioctl(fd, GMLAB_IOC_HANG);
	report(0, "the guest should have hung inside GMLAB_IOC_HANG");
}

/* Kernel panic mid-run (panic=-1 reboots, -no-reboot ends the VM): the host sees BEGIN with no
 * RESULT and must rerun the remaining cases in a fresh VM. */
static void crash_guest(void)
{
	int fd = open("/proc/sysrq-trigger", O_WRONLY);

	if (fd < 0) {
		report_error("open /proc/sysrq-trigger failed (procfs not mounted?)");
		return;
	}
	sync();
	if (write(fd, "c", 1) != 1)
		report_error("write to /proc/sysrq-trigger failed");
	else
		report(0, "the guest kernel should have panicked on sysrq 'c'");
	close(fd);
}

static const struct gml_case cases[] = {
	{ "selftest/pass", "one check that passes", 0, pass },
	{ "selftest/fail", "one check fails on purpose (failure reporting)", 0, fail },
	{ "selftest/hang", "sleeps forever in user space (per-case timeout)", 0, hang },
	{ "selftest/hang-guest", "hangs the guest kernel with interrupts off (host deadline)",
	  GML_NEEDS_KMOD, hang_guest },
	{ "selftest/crash-guest", "kernel panic through sysrq 'c' mid-run (VM dies)", 0,
	  crash_guest },
};

GML_MAIN("selftest", cases)
