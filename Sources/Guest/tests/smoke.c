/* Suite smoke: the guest boots, the agent runs programs, and the hypercall path is (or is not)
 * there as the backend says. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "gmlab_ioctl.h"

#include "gml_methods.h"
#include "hypercall.h"
#include "report.h"

static void kernel_version(void)
{
	struct utsname u;

	if (!report(uname(&u) == 0, "uname() succeeds"))
		return;
	report_value("release", u.release);
	report(u.release[0] != 0, "kernel release is not empty");
}

static void cpu_vendor(void)
{
	char v[13];

	hc_cpu_vendor(v);
	report_value("vendor", v);
	report_value("instruction", hc_insn_name(hc_insn()));
	report(v[0] != 0, "CPUID vendor string is not empty");
}

static void hypervisor_lookup(void)
{
	const char *backend = gml_backend();
	unsigned long num = 0;
	enum hc_presence p = hc_probe_name("gmlab.info", &num);
	struct hc_regs r = { 0 };

	report_value("instruction", hc_insn_name(hc_insn()));
	report_value("presence", p == HC_PRESENT ? "present" : "absent");
	if (!backend) {
		report_skip("GMLAB_BACKEND not set: cannot tell what to expect");
		return;
	}
	if (strcmp(backend, "none") == 0) {
		/* reaching the next line at all shows the #UD was caught and the guest lives on */
		report(p == HC_ABSENT, "without a hypervisor %s raises #UD (got: %s, look-up rax %#lx)",
		       hc_insn_name(hc_insn()), p == HC_PRESENT ? "instruction completed" : "absent",
		       num);
		return;
	}
	if (!report(p == HC_PRESENT, "%s completes under backend %s (it raised #UD)",
		    hc_insn_name(hc_insn()), backend))
		return;
	report_value("gmlab.info", num);
	if (!report(num > 0, "look-up of gmlab.info returns a number > 0 (got %#lx)", num))
		return;
	hc_call(num, &r);
	report_eq_u64("gmlab.info rax (magic \"GMLAB\")", GML_INFO_MAGIC, r.rax);
	/* rdx bits 7:0 the backend, bits 15:8 the access policy (was the backend alone; it still
	 * is under the default policy, bitvisor = 0) */
	if (strcmp(backend, "svm") == 0)
		report_eq_u64("gmlab.info rdx bits 7:0 (backend 1 = svm)", GML_BACKEND_SVM,
			      GML_INFO_BACKEND(r.rdx));
	else if (strcmp(backend, "vmx") == 0)
		report_eq_u64("gmlab.info rdx bits 7:0 (backend 2 = vmx)", GML_BACKEND_VMX,
			      GML_INFO_BACKEND(r.rdx));
	else
		report(0, "GMLAB_BACKEND is none, svm or vmx (got '%s')", backend);
	report(r.rdx >> 16 == 0, "gmlab.info rdx has nothing above bit 15 (got %#lx)", r.rdx);
	report_value("policy", GML_INFO_POLICY(r.rdx) == GML_POLICY_STRICT ? "strict" :
		     GML_INFO_POLICY(r.rdx) == GML_POLICY_BITVISOR ? "bitvisor" : "unknown");
	if (gml_policy()) /* the plan named it: the lab passed it to the hypervisor */
		report_eq_u64(strcmp(gml_policy(), "strict") == 0 ?
			      "gmlab.info policy (rdx bits 15:8) is GMLAB_POLICY=strict (1)" :
			      "gmlab.info policy (rdx bits 15:8) is GMLAB_POLICY=bitvisor (0)",
			      strcmp(gml_policy(), "strict") == 0 ? GML_POLICY_STRICT : GML_POLICY_BITVISOR,
			      GML_INFO_POLICY(r.rdx));
	report_value("region_base", r.rbx);
	report_value("region_size", r.rcx);
	report_value("vmexits", r.rdi);
}

/* The same from CPL0 through the module: proves its exception-table fixup (backend none: the
 * #UD is caught, no oops) or the CPL0 path to the hypervisor (svm/vmx). */
static void hypervisor_lookup_cpl0(void)
{
	const char *backend = gml_backend();
	struct gmlab_lookup l = { .name = "gmlab.info" };
	int fd = open(GMLAB_DEVICE, O_RDWR), rc, err;

	if (fd < 0) {
		report_error("open %s: %s", GMLAB_DEVICE, strerror(errno));
		return;
	}
	rc = ioctl(fd, GMLAB_IOC_LOOKUP, &l);
	err = errno;
	close(fd);
	if (!report(rc == 0, "GMLAB_IOC_LOOKUP ioctl succeeds (%s)", rc ? strerror(err) : "ok"))
		return;
	report_value("presence", l.faulted ? "absent" : "present");
	if (!backend) {
		report_skip("GMLAB_BACKEND not set: cannot tell what to expect");
	} else if (strcmp(backend, "none") == 0) {
		report(l.faulted == 1, "without a hypervisor the CPL0 %s raises #UD and the module "
		       "fixes it up (got: %s, rax %#llx)", hc_insn_name(hc_insn()),
		       l.faulted ? "faulted" : "instruction completed", (unsigned long long)l.number);
	} else {
		report(l.faulted == 0, "CPL0 %s completes under backend %s (it raised #UD)",
		       hc_insn_name(hc_insn()), backend);
		report(l.number > 0, "CPL0 look-up of gmlab.info returns > 0 (got %#llx)",
		       (unsigned long long)l.number);
	}
}

/* Later suites swap test buffers out to zram: the stock module and its dependency must load
 * from the initramfs (busybox modprobe reading the trimmed modules.dep). */
static void zram_module(void)
{
	int st = system("modprobe zram num_devices=1");

	if (!report(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		    "modprobe zram succeeds (status %#x)", st))
		return;
	report(access("/sys/block/zram0", F_OK) == 0, "/sys/block/zram0 exists after modprobe");
}

static const struct gml_case cases[] = {
	{ "smoke/kernel-version", "uname release of the guest kernel (reported as a value)", 0,
	  kernel_version },
	{ "smoke/cpu-vendor", "CPUID vendor string and the hypercall instruction it selects", 0,
	  cpu_vendor },
	{ "smoke/hypervisor-lookup",
	  "backend none: the hypercall raises #UD and the guest survives; svm/vmx: gmlab.info "
	  "is found and returns the magic", 0, hypervisor_lookup,
	  "skip: asserts gmlab.info, the lab hypervisor's self-report, which BitVisor has not" },
	{ "smoke/zram-module", "the stock zram module loads from the initramfs (for swap tests)", 0,
	  zram_module },
	{ "smoke/hypervisor-lookup-cpl0",
	  "the same look-up at CPL0 through the kernel module (backend none: #UD fixed up, no oops)",
	  GML_NEEDS_KMOD, hypervisor_lookup_cpl0,
	  "skip: looks up gmlab.info, the lab hypervisor's self-report, which BitVisor has not" },
};

GML_MAIN("smoke", cases)
