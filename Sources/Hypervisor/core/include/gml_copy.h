/*
 * Copy engine between hypervisor buffers and guest memory.
 *
 * Linear copies translate once per guest page (with the walker's access rights and A/D
 * updates), check the frame run through the memory map, and copy that run. They stop at the
 * first fault: bytes before it are transferred, nothing at or beyond it is read or written.
 * Within one call the translations share a paging-structure cache (gml_walk_cache): the upper
 * levels are read once per table, so consecutive 4 KiB pages cost one PTE read each; results
 * and A/D side effects are those of a full walk per page (see gml_pagewalk.h for the terms).
 * Single-datum accessors do a full walk per datum (BitVisor's read_linearaddr_* semantics); a
 * datum crossing a page boundary is translated on both pages before any byte moves, so a
 * fault on the second page leaves the first untouched too.
 * Physical copies check the whole range first and copy all or nothing.
 */
#ifndef GML_COPY_H
#define GML_COPY_H
#include "gml_types.h"
#include "gml_errors.h"
#include "gml_memmap.h"
#include "gml_pagewalk.h"

struct gml_copy_status {
	gml_err err;
	u8 level;        /* paging level of a translation fault (see gml_walk.level), else 0 */
	u64 done;        /* bytes transferred; on a fault also the offset of the first byte not
			    transferred (the fault offset): data moves in whole 4 KiB-page pieces */
	u64 fault_addr;  /* address (linear for linear copies, else physical) of the first byte
			    not transferred: start + done */
	u64 fault_gpa;   /* memory-map failures: the first offending guest-physical byte; else 0 */
};

/* Guest linear ↔ hypervisor buffer. status may be NULL. Return status->err.
 * len 0 → GML_E_LEN_ZERO, gva+len wrapping past 2^64 → GML_E_LEN_WRAP (nothing touched). */
gml_err gml_copy_from_guest_linear(const struct gml_walker *w, const struct gml_phys *phys,
				   void *dst, u64 gva, u64 len, struct gml_copy_status *status);
gml_err gml_copy_to_guest_linear(const struct gml_walker *w, const struct gml_phys *phys,
				 u64 gva, const void *src, u64 len, struct gml_copy_status *status);

/* The same with a full walk per page (no paging-structure cache): the reference the cached
 * copy is tested against, and the "before" of its benchmark. Same results and side effects. */
gml_err gml_copy_from_guest_linear_uncached(const struct gml_walker *w,
					    const struct gml_phys *phys, void *dst, u64 gva,
					    u64 len, struct gml_copy_status *status);
gml_err gml_copy_to_guest_linear_uncached(const struct gml_walker *w, const struct gml_phys *phys,
					  u64 gva, const void *src, u64 len,
					  struct gml_copy_status *status);

/* Guest physical ↔ hypervisor buffer, all or nothing (status may be NULL). */
gml_err gml_copy_from_guest_phys(const struct gml_phys *phys, void *dst, u64 gpa, u64 len,
				 struct gml_copy_status *status);
gml_err gml_copy_to_guest_phys(const struct gml_phys *phys, u64 gpa, const void *src, u64 len,
			       struct gml_copy_status *status);

/* One datum at a guest linear address, full walk each time (the seed's read_linearaddr_b/w/l/q
 * and write_linearaddr_*). Little-endian, any alignment. Return GML_OK or the typed error;
 * *value is only written on success. walk (may be NULL) receives the failing translation. */
gml_err gml_read_linear_b(const struct gml_walker *w, const struct gml_phys *phys, u64 gva, u8 *value);
gml_err gml_read_linear_w(const struct gml_walker *w, const struct gml_phys *phys, u64 gva, u16 *value);
gml_err gml_read_linear_l(const struct gml_walker *w, const struct gml_phys *phys, u64 gva, u32 *value);
gml_err gml_read_linear_q(const struct gml_walker *w, const struct gml_phys *phys, u64 gva, u64 *value);
gml_err gml_write_linear_b(const struct gml_walker *w, const struct gml_phys *phys, u64 gva, u8 value);
gml_err gml_write_linear_w(const struct gml_walker *w, const struct gml_phys *phys, u64 gva, u16 value);
gml_err gml_write_linear_l(const struct gml_walker *w, const struct gml_phys *phys, u64 gva, u32 value);
gml_err gml_write_linear_q(const struct gml_walker *w, const struct gml_phys *phys, u64 gva, u64 value);
/* The general form behind them: size 1..8 bytes. */
gml_err gml_access_linear_datum(const struct gml_walker *w, const struct gml_phys *phys, u64 gva,
				void *buf, unsigned size, bool write, struct gml_walk *walk);

#endif
