/* Hypercall service registry and the guest-name look-up (gml_registry.h). */
#include "gml_registry.h"
#include "gml_copy.h"

void gml_registry_init(struct gml_registry *reg)
{
	reg->count = 0;
}

/* Length of a host string, or GML_NAME_MAX + 1 when longer than allowed (reads ≤ 256 bytes). */
static u64 bounded_len(const char *s)
{
	u64 n = 0;
	while (n <= GML_NAME_MAX && s[n])
		n++;
	return n;
}

static bool same_name(const struct gml_service *svc, const char *name, u64 len)
{
	if (svc->len != len)
		return false;
	for (u64 i = 0; i < len; i++)
		if (svc->name[i] != name[i])
			return false;
	return true;
}

u64 gml_registry_lookup_n(const struct gml_registry *reg, const char *name, u64 len)
{
	if (!reg || !name || len == 0 || len > GML_NAME_MAX)
		return 0;
	for (u32 i = 0; i < reg->count; i++)
		if (same_name(&reg->services[i], name, len))
			return (u64)i + 1;
	return 0;
}

u64 gml_registry_lookup(const struct gml_registry *reg, const char *name)
{
	if (!name)
		return 0;
	return gml_registry_lookup_n(reg, name, bounded_len(name));
}

gml_err gml_registry_register(struct gml_registry *reg, const char *name, gml_service_fn fn,
			      u64 *number)
{
	return gml_registry_register_flags(reg, name, fn, 0, number);
}

gml_err gml_registry_register_flags(struct gml_registry *reg, const char *name, gml_service_fn fn,
				    u32 flags, u64 *number)
{
	u64 len;
	struct gml_service *svc;

	if (number)
		*number = 0;
	if (!reg || !name || !fn || (flags & ~GML_SVC_FLAGS_ALL))
		return GML_E_INVALID_ARG;
	len = bounded_len(name);
	if (len == 0)
		return GML_E_NAME_EMPTY;
	if (len > GML_NAME_MAX)
		return GML_E_NAME_TOO_LONG;
	if (gml_registry_lookup_n(reg, name, len))
		return GML_E_NAME_DUPLICATE;
	if (reg->count >= GML_REGISTRY_CAPACITY)
		return GML_E_REGISTRY_FULL;
	svc = &reg->services[reg->count];
	gml_memcpy(svc->name, name, len);
	svc->name[len] = 0;
	svc->len = (u16)len;
	svc->flags = flags;
	svc->fn = fn;
	reg->count++;
	if (number)
		*number = reg->count;
	return GML_OK;
}

gml_service_fn gml_registry_get(const struct gml_registry *reg, u64 number)
{
	if (!reg || number == 0 || number > reg->count)
		return NULL;
	return reg->services[number - 1].fn;
}

const char *gml_registry_name(const struct gml_registry *reg, u64 number)
{
	if (!reg || number == 0 || number > reg->count)
		return NULL;
	return reg->services[number - 1].name;
}

u32 gml_registry_flags(const struct gml_registry *reg, u64 number)
{
	if (!reg || number == 0 || number > reg->count)
		return 0;
	return reg->services[number - 1].flags;
}

bool gml_registry_allowed(const struct gml_registry *reg, u64 number, u8 cpl, u32 policy)
{
	if (policy == GML_POLICY_BITVISOR || cpl != 3)
		return true;
	return !(gml_registry_flags(reg, number) & GML_SVC_CPL0_ONLY);
}

gml_err gml_registry_dispatch(const struct gml_registry *reg, u64 number)
{
	gml_service_fn fn = gml_registry_get(reg, number);

	if (!fn)
		return GML_E_UNKNOWN_SERVICE;
	fn();
	return GML_OK;
}

u64 gml_lookup_guest_name(const struct gml_registry *reg, const struct gml_walker *w,
			  const struct gml_phys *phys, u64 gva, gml_err *why)
{
	return gml_lookup_guest_name_at(reg, w, phys, gva, why, NULL);
}

u64 gml_lookup_guest_name_at(const struct gml_registry *reg, const struct gml_walker *w,
			     const struct gml_phys *phys, u64 gva, gml_err *why, u64 *fault_gva)
{
	char name[GML_NAME_MAX + 1];
	u64 n = 0, number, local_gva;
	gml_err local;

	if (!why)
		why = &local;
	if (!fault_gva)
		fault_gva = &local_gva;
	*fault_gva = 0;
	if (!reg) {
		*why = GML_E_INVALID_ARG;
		return 0;
	}
	/* Page by page: a chunk never extends past the page being read, so a name ending before an
	 * unreadable page never touches that page. */
	while (n <= GML_NAME_MAX) {
		u64 cur = gva + n;
		u64 chunk = GML_PAGE_SIZE - (cur & (GML_PAGE_SIZE - 1));
		struct gml_copy_status st;

		if (cur < gva) { /* the name would continue past 2^64 - 1 */
			*why = GML_E_LEN_WRAP;
			return 0;
		}
		if (chunk > GML_NAME_MAX + 1 - n)
			chunk = GML_NAME_MAX + 1 - n;
		if (gml_copy_from_guest_linear(w, phys, name + n, cur, chunk, &st) != GML_OK) {
			*why = st.err;
			*fault_gva = st.fault_addr;
			return 0;
		}
		for (u64 i = n; i < n + chunk; i++) {
			if (name[i] == 0) {
				if (i == 0) {
					*why = GML_E_NAME_EMPTY;
					return 0;
				}
				number = gml_registry_lookup_n(reg, name, i);
				*why = number ? GML_OK : GML_E_UNKNOWN_SERVICE;
				return number;
			}
		}
		n += chunk;
	}
	*why = GML_E_NAME_UNTERMINATED;
	return 0;
}
