/* Copy engine between hypervisor buffers and guest memory (gml_copy.h). */
#include "gml_copy.h"

static void status_init(struct gml_copy_status *st, u64 start)
{
	st->err = GML_OK;
	st->level = 0;
	st->done = 0;
	st->fault_addr = start;
	st->fault_gpa = 0;
}

static gml_err status_fail(struct gml_copy_status *st, gml_err err, u64 start)
{
	st->err = err;
	st->fault_addr = start + st->done;
	return err;
}

/* Length checks shared by all copies: zero, and start + len passing 2^64. */
static gml_err check_len(u64 start, u64 len)
{
	if (len == 0)
		return GML_E_LEN_ZERO;
	if (len - 1 > ~0ULL - start)
		return GML_E_LEN_WRAP;
	return GML_OK;
}

/*
 * Copy n bytes with plain 8-byte moves, 32 bytes per iteration. The hypervisor's memcpy is
 * `rep movsb`, which QEMU TCG emulates one byte per iteration of a helper loop (~1.8 ns a
 * byte measured by `lab bench`); ordinary loads and stores are translated to inline host
 * moves, several times faster there, and are no slower on hardware for page-sized pieces.
 * The empty asm keeps gcc from turning the loop back into a memcpy call.
 */
static void copy_fast(u8 *d, const u8 *s, u64 n)
{
	while (n >= 32) {
		u64 a, b, c, e;

		__builtin_memcpy(&a, s, 8);
		__builtin_memcpy(&b, s + 8, 8);
		__builtin_memcpy(&c, s + 16, 8);
		__builtin_memcpy(&e, s + 24, 8);
		__builtin_memcpy(d, &a, 8);
		__builtin_memcpy(d + 8, &b, 8);
		__builtin_memcpy(d + 16, &c, 8);
		__builtin_memcpy(d + 24, &e, 8);
		d += 32, s += 32, n -= 32;
		__asm__ volatile("" ::: "memory");
	}
	while (n >= 8) {
		u64 a;

		__builtin_memcpy(&a, s, 8);
		__builtin_memcpy(d, &a, 8);
		d += 8, s += 8, n -= 8;
		__asm__ volatile("" ::: "memory");
	}
	while (n--)
		*d++ = *s++;
}

/*
 * Move [gpa, gpa+n) (n ≤ 4 KiB, not crossing a 4 KiB boundary, already range-checked) between
 * guest memory and buf.
 */
static gml_err move_piece(const struct gml_phys *phys, u64 gpa, u8 *buf, u64 n, bool to_guest)
{
	u8 *p = phys->map_gpa(phys->ctx, gpa, n, to_guest);

	if (!p)
		return GML_E_GPA_UNMAPPED;
	if (to_guest)
		copy_fast(p, buf, n);
	else
		copy_fast(buf, p, n);
	if (phys->unmap)
		phys->unmap(phys->ctx, p, n);
	return GML_OK;
}

/*
 * Transfer the frame run [gpa, gpa+n) piece by piece (a piece = the part inside one 4 KiB
 * page), each piece checked through the memory map before it moves. st->done advances per
 * piece; on failure st->fault_gpa names the offending byte.
 */
static gml_err move_run(const struct gml_phys *phys, u64 gpa, u8 *buf, u64 n, bool to_guest,
			struct gml_copy_status *st)
{
	u64 off = 0;

	while (off < n) {
		u64 g = gpa + off;
		u64 piece = GML_PAGE_SIZE - (g & (GML_PAGE_SIZE - 1));
		u64 bad = g;
		gml_err err;

		if (piece > n - off)
			piece = n - off;
		err = gml_gpa_range_check_at(phys->map, g, piece, to_guest, &bad);
		if (err == GML_OK)
			err = move_piece(phys, g, buf + off, piece, to_guest);
		if (err != GML_OK) {
			st->fault_gpa = bad;
			return err;
		}
		off += piece;
		st->done += piece;
	}
	return GML_OK;
}

static gml_err copy_linear(const struct gml_walker *w, const struct gml_phys *phys, u64 gva,
			   u8 *buf, u64 len, bool to_guest, bool use_cache, struct gml_copy_status *st)
{
	struct gml_walk_cache cache;
	gml_err err;

	status_init(st, gva);
	if (!w || !phys || !phys->map || !phys->map_gpa || !buf)
		return status_fail(st, GML_E_INVALID_ARG, gva);
	err = check_len(gva, len);
	if (err != GML_OK)
		return status_fail(st, err, gva);

	/* The paging-structure cache lives for this call only: the tables are the guest's, and
	 * between two hypercalls it may change them without telling us. */
	gml_walk_cache_init(&cache);
	cache.fixed_walker = true; /* *w is const and the same for the whole call */
	while (st->done < len) {
		u64 cur = gva + st->done;
		struct gml_walk wk;
		u64 run;

		/* One translation per guest page (large pages: one per 2 MiB / 1 GiB); the upper
		 * levels are read once per table they cover. */
		err = gml_translate_cached(w, use_cache ? &cache : NULL, cur,
					   to_guest ? GML_ACC_WRITE : GML_ACC_READ, &wk);
		if (err != GML_OK) {
			st->level = wk.level;
			return status_fail(st, err, gva);
		}
		run = wk.page_size - (cur & (wk.page_size - 1));
		if (run > len - st->done)
			run = len - st->done;
		err = move_run(phys, wk.gpa, buf + st->done, run, to_guest, st);
		if (err != GML_OK)
			return status_fail(st, err, gva);
	}
	return GML_OK;
}

gml_err gml_copy_from_guest_linear(const struct gml_walker *w, const struct gml_phys *phys,
				   void *dst, u64 gva, u64 len, struct gml_copy_status *status)
{
	struct gml_copy_status local;
	return copy_linear(w, phys, gva, dst, len, false, true, status ? status : &local);
}

gml_err gml_copy_to_guest_linear(const struct gml_walker *w, const struct gml_phys *phys,
				 u64 gva, const void *src, u64 len, struct gml_copy_status *status)
{
	struct gml_copy_status local;
	/* The buffer is only read on this path; the cast serves the shared helper. */
	return copy_linear(w, phys, gva, (u8 *)src, len, true, true, status ? status : &local);
}

gml_err gml_copy_from_guest_linear_uncached(const struct gml_walker *w,
					    const struct gml_phys *phys, void *dst, u64 gva,
					    u64 len, struct gml_copy_status *status)
{
	struct gml_copy_status local;
	return copy_linear(w, phys, gva, dst, len, false, false, status ? status : &local);
}

gml_err gml_copy_to_guest_linear_uncached(const struct gml_walker *w, const struct gml_phys *phys,
					  u64 gva, const void *src, u64 len,
					  struct gml_copy_status *status)
{
	struct gml_copy_status local;
	return copy_linear(w, phys, gva, (u8 *)src, len, true, false, status ? status : &local);
}

static gml_err copy_phys(const struct gml_phys *phys, u64 gpa, u8 *buf, u64 len, bool to_guest,
			 struct gml_copy_status *st)
{
	gml_err err;
	u64 bad = gpa;

	status_init(st, gpa);
	if (!phys || !phys->map || !phys->map_gpa || !buf)
		return status_fail(st, GML_E_INVALID_ARG, gpa);
	/* All or nothing: the whole range is checked before the first byte moves. */
	err = gml_gpa_range_check_at(phys->map, gpa, len, to_guest, &bad);
	if (err != GML_OK) {
		if (err != GML_E_LEN_ZERO && err != GML_E_LEN_WRAP)
			st->fault_gpa = bad;
		return status_fail(st, err, gpa);
	}
	err = move_run(phys, gpa, buf, len, to_guest, st);
	if (err != GML_OK)
		return status_fail(st, err, gpa); /* only a failing map hook gets here */
	return GML_OK;
}

gml_err gml_copy_from_guest_phys(const struct gml_phys *phys, void *dst, u64 gpa, u64 len,
				 struct gml_copy_status *status)
{
	struct gml_copy_status local;
	return copy_phys(phys, gpa, dst, len, false, status ? status : &local);
}

gml_err gml_copy_to_guest_phys(const struct gml_phys *phys, u64 gpa, const void *src, u64 len,
			       struct gml_copy_status *status)
{
	struct gml_copy_status local;
	return copy_phys(phys, gpa, (u8 *)src, len, true, status ? status : &local);
}

/* ---- single datum, full walk per access ---- */

gml_err gml_access_linear_datum(const struct gml_walker *w, const struct gml_phys *phys, u64 gva,
				void *buf, unsigned size, bool write, struct gml_walk *walk)
{
	struct gml_walk local, w1, w2;
	unsigned acc = write ? GML_ACC_WRITE : GML_ACC_READ;
	u64 n1;
	gml_err err;

	if (!walk)
		walk = &local;
	walk->err = GML_OK;
	walk->level = 0;
	if (!w || !phys || !phys->map || !phys->map_gpa || !buf || size == 0 || size > 8)
		return walk->err = GML_E_INVALID_ARG;
	err = check_len(gva, size);
	if (err != GML_OK)
		return walk->err = err;
	n1 = GML_PAGE_SIZE - (gva & (GML_PAGE_SIZE - 1));
	if (n1 > size)
		n1 = size;

	/* Crossing datum: probe the second page first (no A/D), so a fault there leaves no trace
	 * on the first page either; then translate both for real. */
	if (n1 < size && gml_translate(w, gva + n1, acc | GML_ACC_NO_AD, walk) != GML_OK)
		return walk->err;
	if (gml_translate(w, gva, acc, &w1) != GML_OK) {
		*walk = w1;
		return w1.err;
	}
	err = gml_gpa_range_check(phys->map, w1.gpa, n1, write);
	if (err != GML_OK)
		return walk->err = err;
	if (n1 < size) {
		if (gml_translate(w, gva + n1, acc, &w2) != GML_OK) {
			*walk = w2;
			return w2.err;
		}
		err = gml_gpa_range_check(phys->map, w2.gpa, size - n1, write);
		if (err != GML_OK)
			return walk->err = err;
	}
	*walk = w1;
	err = move_piece(phys, w1.gpa, buf, n1, write);
	if (err == GML_OK && n1 < size)
		err = move_piece(phys, w2.gpa, (u8 *)buf + n1, size - n1, write);
	return walk->err = err;
}

/* Little-endian assembly without relying on host byte order or unaligned loads. */
static gml_err read_le(const struct gml_walker *w, const struct gml_phys *phys, u64 gva,
		       unsigned size, u64 *value)
{
	u8 b[8];
	u64 v = 0;
	gml_err err = gml_access_linear_datum(w, phys, gva, b, size, false, NULL);

	if (err != GML_OK)
		return err;
	for (unsigned i = size; i-- > 0;)
		v = (v << 8) | b[i];
	*value = v;
	return GML_OK;
}

static gml_err write_le(const struct gml_walker *w, const struct gml_phys *phys, u64 gva,
			unsigned size, u64 value)
{
	u8 b[8];

	for (unsigned i = 0; i < size; i++)
		b[i] = (u8)(value >> (8 * i));
	return gml_access_linear_datum(w, phys, gva, b, size, true, NULL);
}

#define GML_DATUM_ACCESSORS(sfx, type, size)                                                   \
	gml_err gml_read_linear_##sfx(const struct gml_walker *w, const struct gml_phys *phys, \
				      u64 gva, type *value)                                    \
	{                                                                                      \
		u64 v;                                                                         \
		gml_err err;                                                                   \
		if (!value)                                                                    \
			return GML_E_INVALID_ARG;                                              \
		err = read_le(w, phys, gva, size, &v);                                         \
		if (err == GML_OK)                                                             \
			*value = (type)v;                                                      \
		return err;                                                                    \
	}                                                                                      \
	gml_err gml_write_linear_##sfx(const struct gml_walker *w, const struct gml_phys *phys, \
				       u64 gva, type value)                                    \
	{                                                                                      \
		return write_le(w, phys, gva, size, value);                                    \
	}

GML_DATUM_ACCESSORS(b, u8, 1)
GML_DATUM_ACCESSORS(w, u16, 2)
GML_DATUM_ACCESSORS(l, u32, 4)
GML_DATUM_ACCESSORS(q, u64, 8)
