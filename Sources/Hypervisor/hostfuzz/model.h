/* The modelled machine of the host fuzzer (model.c): guest-physical memory as host mappings
 * laid out like the real machine, the hypervisor's region and heap, the vCPU's control state,
 * the hypervisor log, per-call work counters and the failure path. Hosted (libc). */
#ifndef HF_MODEL_H
#define HF_MODEL_H
#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include "hf_glue.h"

/* The same typedefs as core/include/gml_types.h, so the core's ABI headers can be included. */
typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

#define HF_PAGE 4096ULL
#define HF_GIB (1ULL << 30)
#define HF_MIB (1ULL << 20)

/* What a 4 KiB page of the modelled guest-physical space is. Only RAM is ever readable by the
 * hypervisor code on the guest's behalf; everything else is PROT_NONE except a service buffer
 * while one of its owning services runs. */
enum hf_page_kind {
	HF_PK_HOLE = 0,  /* no RAM byte: reserved, MMIO, nothing */
	HF_PK_RAM,       /* at least one byte of e820 RAM, outside the hypervisor's region */
	HF_PK_IMAGE,     /* region 0: the hypervisor image */
	HF_PK_HOSTPT,    /* heap: host page directories (hostpaging_init, RAM above 4 GiB) */
	HF_PK_BUF,       /* heap: a buffer a service allocated at start-up */
	HF_PK_BACKEND,   /* heap: nested page tables, VMCB, permission maps (allocated after services) */
	HF_PK_FREE,      /* heap: never allocated */
};

/* Owners of the heap buffers services allocate (by allocation size, see model.c). */
#define HF_OWN_REGS 1u  /* gml.regs.*: the 64 KiB staging buffer */
#define HF_OWN_XFER 2u  /* gml.phys.*, gml.linear.bytewise/pagewise: the 2 MiB chunk */

#define HF_MAX_E820 12
#define HF_MAX_BUFS 8

struct hf_buf {
	u64 gpa, size;
	unsigned owner;
};

struct hf_layout {
	const char *name;
	int ne820;
	struct hf_e820 e820[HF_MAX_E820];
	u64 image_base, image_size, heap_base, heap_size;
	u64 span;          /* guest-physical [0, span) is modelled; nothing above exists */
	u64 host_pt_pages; /* heap pages hostpaging_init takes before the services */
	u64 backend_size;  /* heap bytes the backend takes after the services (NPT, VMCB, maps) */
	/* set up by the model */
	u8 *mem;           /* host mapping of [0, span) */
	u8 *kind;          /* enum hf_page_kind per page */
	int npartial;      /* RAM pages not entirely RAM (an e820 boundary inside the page) */
	u64 partial[2 * HF_MAX_E820];
	int nbufs;
	struct hf_buf bufs[HF_MAX_BUFS];
	bool ready;
};

extern struct hf_layout hf_layouts[];
extern const int hf_nlayouts;

struct hf_cpu_model {
	struct hf_cpu c;
	unsigned maxphyaddr;
};

/* One dirty page of the current call with its contents before the call. */
struct hf_dirty {
	u64 page;
	const u8 *before;
};

struct hf_model {
	struct hf_layout *L;
	struct hf_cpu_model cpu;
	bool in_call;
	/* per-call work counters and budgets */
	u64 call_maps, map_budget;
	u64 call_stays, stay_maps; /* stays of the call; accesses of the stays before this one */
	u64 call_log, log_budget;
	/* the log of the current call (first HF_LOG_KEEP bytes) */
	char log[8192];
	u64 heap_next;
	int booting; /* allocations during boot are service buffers */
	bool keep_going;
	bool trace;
	const char *svc; /* name of the service being called (for failure classes) */
};
extern struct hf_model hf_m;

/* Budgets (README "Invariants"). */
#define HF_BYTEWISE_MAX (256ULL << 10)           /* contract 9: the largest byte-wise stay */
/* guest-memory accesses (map calls) per stay in the hypervisor: a call, or one stay of a
 * continuation (issue 14: a long transfer is sliced, each stay bounded, the call as a whole
 * bounded by GML_XFER_MAX and the number of stays) */
#define HF_MAP_BUDGET (8 * HF_BYTEWISE_MAX)
#define HF_MAX_STAYS (1u << 16)                  /* stays of one call (16 MiB / 4 KiB = 4096) */
#define HF_LOG_BUDGET 8192                       /* log bytes per call */
#define HF_MAX_CALL_PAGES 8192                   /* distinct guest pages written per call */

/* Set up (once) and select a layout; reset memory and hypervisor state for a new input. */
void hf_model_select(struct hf_layout *L);
void hf_model_reset(void);
/* Host pointer for a guest-physical byte of the current layout, or NULL outside [0, span). */
u8 *hf_gpa_ptr(u64 gpa);
/* Is the guest-physical byte e820 RAM outside the hypervisor's region? */
bool hf_is_ram(u64 gpa);
/* Is the byte's whole page RAM (no e820 boundary cuts it)? */
bool hf_page_all_ram(u64 gpa);
/* Classify the byte's page. */
enum hf_page_kind hf_kind(u64 gpa);
const char *hf_kind_name(enum hf_page_kind k);

/* Writes by the guest (the fuzz input's ops), clipped to RAM: returns bytes written. */
u64 hf_guest_write(u64 gpa, const void *src, u64 len);
u64 hf_guest_fill(u64 gpa, u8 value, u64 len);
bool hf_guest_read(u64 gpa, void *dst, u64 len); /* RAM only, false otherwise */

/* A hypercall under observation: buffers of `owners` writable, RAM write-tracked. Returns the
 * pages written during it (contents before in .before) through hf_call_dirty(). */
void hf_call_begin(unsigned owners);
void hf_call_end(void);
int hf_call_dirty(const struct hf_dirty **out);
/* Keep-going mode: an in-call failure long-jumps here (the harness sigsetjmps around a call). */
#include <setjmp.h>
extern sigjmp_buf hf_call_env;

/* Failures. Inside a call these never return (keep-going: long jump back to the call site). */
void hf_fail(const char *cls, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void hf_fail_now(const char *cls, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
bool hf_failed(void);
const char *hf_failure_class(void);
const char *hf_failure_text(void);
void hf_clear_failure(void);
/* Harness hook printing the input's history on a failure (set by harness.c). */
extern void (*hf_print_history)(void);

#endif
