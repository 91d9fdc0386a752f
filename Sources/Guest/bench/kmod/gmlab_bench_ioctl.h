/* Interface of gmlab_bench.ko (/dev/gmlab_bench), shared with Sources/Guest/bench/bench.c.
 * The module times, at CPL0, the transfer methods that need kernel memory: a physically
 * contiguous kmalloc buffer passed by its guest-physical address, and a vmalloc buffer passed
 * as a list of its pages' guest-physical addresses; also a null hypercall from the kernel.
 * Timing inside the kernel keeps the ioctl's own cost out of the figures. */
#ifndef GMLAB_BENCH_IOCTL_H
#define GMLAB_BENCH_IOCTL_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define GMLAB_BENCH_DEVICE "/dev/gmlab_bench"

/* Register use follows the method ABI (Sources/Guest/core/include/gml_methods.h). */
enum gmlab_bench_method {
	GMLAB_BENCH_NULL = 1,		/* service(rbx..rdi = 0), e.g. gmlab.echo; size ignored */
	GMLAB_BENCH_CONTIG = 2,		/* gml.phys.xfer(rbx = gpa, rcx = size, rdx = flags) on kmalloc */
	GMLAB_BENCH_PAGELIST = 3,	/* gml.phys.list(rbx = gpa of the PFN array, rcx = size,
					   rdx = flags, rdi = 0) on a vmalloc buffer */
};

/* Largest buffers: kmalloc's limit (order-10 pages), and what the lab benchmarks at most. */
#define GMLAB_BENCH_CONTIG_MAX	(4u << 20)
#define GMLAB_BENCH_LIST_MAX	(16u << 20)

struct gmlab_bench_run {
	__u32 method;		/* enum gmlab_bench_method */
	__u32 pad;
	__u64 service;		/* hypercall service number (looked up by the caller) */
	__u64 size;		/* bytes per transfer */
	__u64 flags;		/* rdx of the transfer services (GML_XFER_*) */
	__u64 iterations;	/* transfers to time, >= 1 */
	__u64 ns;		/* out: elapsed for all iterations (ktime_get_ns) */
	__u64 rax;		/* out: rax of the last call (the first failing one on error) */
	__u64 rbx;		/* out: rbx of that call (bytes done for bench.* services) */
	__u64 hypercalls;	/* out: hypercalls per transfer */
	__u32 faulted;		/* out: the instruction raised #UD (no hypervisor) */
	__u32 pad2;
};

#define GMLAB_BENCH_IOC_RUN	_IOWR('B', 1, struct gmlab_bench_run)

#endif
