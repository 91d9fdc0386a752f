/*
 * Hypercall service registry: names → numbers → handlers.
 *
 * Numbers are assigned 1, 2, 3 … in registration order (as BitVisor does; guests must look
 * services up by name). Number 0 is the look-up call itself and never names a service.
 * Handlers have the seed's signature `void fn(void)`: they read and write the calling vCPU's
 * registers through the machine side's `current`.
 * The registry is filled at start-up (single-threaded) and read-only afterwards, so look-ups
 * need no lock.
 *
 * Access policy (issue 9): a service may be declared CPL0-only at registration
 * (GML_SVC_CPL0_ONLY). The hypervisor's policy (gmlab.policy=, values in gml_methods.h) decides
 * whether that declaration is enforced: GML_POLICY_BITVISOR (the default, BitVisor's way)
 * allows every service at every CPL; GML_POLICY_STRICT refuses a CPL0-only service to a CPL3
 * caller (the dispatcher answers GML_ME_DENIED without running it).
 */
#ifndef GML_REGISTRY_H
#define GML_REGISTRY_H
#include "gml_types.h"
#include "gml_errors.h"
#include "gml_memmap.h"
#include "gml_pagewalk.h"
#include "gml_methods.h"

#define GML_REGISTRY_CAPACITY 256 /* BitVisor allows 128 */
#define GML_NAME_MAX 255          /* characters, NUL not counted */

/* Service flags (gml_registry_register_flags) */
#define GML_SVC_CPL0_ONLY 0x1u /* refused to CPL3 callers under GML_POLICY_STRICT */
#define GML_SVC_FLAGS_ALL 0x1u

typedef void (*gml_service_fn)(void);

struct gml_service {
	gml_service_fn fn;
	u16 len;
	u32 flags; /* GML_SVC_* */
	char name[GML_NAME_MAX + 1];
};

struct gml_registry {
	u32 count;
	struct gml_service services[GML_REGISTRY_CAPACITY]; /* number n is services[n - 1] */
};

void gml_registry_init(struct gml_registry *reg);

/* name: NUL-terminated, 1..255 characters. Errors: GML_E_INVALID_ARG (NULL name or fn),
 * GML_E_NAME_EMPTY, GML_E_NAME_TOO_LONG, GML_E_NAME_DUPLICATE, GML_E_REGISTRY_FULL.
 * number (may be NULL) receives the new number. */
gml_err gml_registry_register(struct gml_registry *reg, const char *name, gml_service_fn fn,
			      u64 *number);
/* The same with GML_SVC_* flags; unknown flag bits -> GML_E_INVALID_ARG. */
gml_err gml_registry_register_flags(struct gml_registry *reg, const char *name, gml_service_fn fn,
				    u32 flags, u64 *number);

/* Number of `name` (host-side string, read at most 256 bytes), 0 if unknown or too long. */
u64 gml_registry_lookup(const struct gml_registry *reg, const char *name);
/* Same for a name of known length (no NUL needed). */
u64 gml_registry_lookup_n(const struct gml_registry *reg, const char *name, u64 len);

/* Handler of `number`, NULL when unused (0, beyond count). */
gml_service_fn gml_registry_get(const struct gml_registry *reg, u64 number);
/* Name of `number` or NULL. */
const char *gml_registry_name(const struct gml_registry *reg, u64 number);
/* GML_SVC_* flags of `number`, 0 when unused. */
u32 gml_registry_flags(const struct gml_registry *reg, u64 number);

/* May a caller at `cpl` (0..3; 1 and 2 count as supervisor) run service `number` under
 * `policy` (GML_POLICY_*)? False only for a CPL0-only service, a CPL3 caller and
 * GML_POLICY_STRICT; an unused number is "allowed" (the caller then gets GML_HC_ENOSYS from
 * the dispatch); an unknown policy value is treated as strict. */
bool gml_registry_allowed(const struct gml_registry *reg, u64 number, u8 cpl, u32 policy);

/* Run the handler of `number`: GML_OK, or GML_E_UNKNOWN_SERVICE (then the caller puts
 * GML_HC_ENOSYS in the guest's rax). */
gml_err gml_registry_dispatch(const struct gml_registry *reg, u64 number);

/*
 * The look-up hypercall: read a NUL-terminated name at guest-linear `gva` with the caller's
 * rights (read access, A bits set like the CPU) and look it up. Reads page by page and stops at
 * the NUL, at 256 bytes, or at the first fault: a name that ends before a non-present page is
 * found without touching that page. Returns the number, or 0 when the name is unknown,
 * unterminated within 256 bytes, unreadable or empty; why (may be NULL) says which
 * (GML_OK, GML_E_UNKNOWN_SERVICE, GML_E_NAME_UNTERMINATED, GML_E_NAME_EMPTY, GML_E_LEN_WRAP
 * when the name would run past 2^64 - 1, or the translation / memory-map error).
 */
u64 gml_lookup_guest_name(const struct gml_registry *reg, const struct gml_walker *w,
			  const struct gml_phys *phys, u64 gva, gml_err *why);
/* The same; fault_gva (may be NULL) receives the first byte of the name that could not be
 * read when why is a translation or memory-map error, else 0 (fault-in mode of the look-up:
 * the address of the #PF the guest is given). */
u64 gml_lookup_guest_name_at(const struct gml_registry *reg, const struct gml_walker *w,
			     const struct gml_phys *phys, u64 gva, gml_err *why, u64 *fault_gva);

#endif
