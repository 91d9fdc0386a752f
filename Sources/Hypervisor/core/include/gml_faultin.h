/*
 * Fault-in mode (issue 14; gml_methods.h "Non-present pages"): which refusals of the walker a
 * hypercall may hand to the guest as the page fault its CPU would have raised, and with which
 * error code. Dependency-free apart from the walker's types; host-tested.
 */
#ifndef GML_FAULTIN_H
#define GML_FAULTIN_H
#include "gml_types.h"
#include "gml_errors.h"
#include "gml_pagewalk.h"

/* #PF error code bits (Intel SDM vol. 3 4.7, AMD APM vol. 2 8.4.2) */
#define GML_PF_P (1u << 0)    /* 0: not present; 1: protection (or reserved bit) */
#define GML_PF_W (1u << 1)    /* the access was a write */
#define GML_PF_U (1u << 2)    /* the access was made at CPL3 */
#define GML_PF_RSVD (1u << 3) /* a reserved bit was set in a paging entry */
#define GML_PF_I (1u << 4)    /* instruction fetch (NX or SMEP) */
#define GML_PF_PK (1u << 5)   /* protection key */

/*
 * The error code the CPU pushes when an access of kind `access` (GML_ACC_READ / WRITE / EXEC)
 * at cpu->cpl fails the way the walk failed with e. False when e is no page fault: a
 * non-canonical address (#GP), guest-physical or paging-structure placement errors, changing
 * tables, unsupported modes, argument errors.
 */
bool gml_pf_error_code(const struct gml_cpu_state *cpu, gml_err e, unsigned access, u32 *code);

/*
 * Fault-in mode's rule: only a CPL3 caller naming a user-half address (canonical in the current
 * mode, top bit -- 47, or 56 with LA57 -- clear; paging on) may be given a #PF. The guest's
 * user-fault path resolves it or signals the process; a fault injected into kernel code would
 * have no exception-table entry to land on.
 */
bool gml_faultin_allowed(const struct gml_cpu_state *cpu, u64 gva);

/* Both: may the walk's refusal e of an access at gva become a #PF, and with which code. */
bool gml_faultin_decide(const struct gml_cpu_state *cpu, u64 gva, gml_err e, unsigned access,
			u32 *code);

#endif
