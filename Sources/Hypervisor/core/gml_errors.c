/* Names and descriptions of the core's typed errors (gml_errors.h). */
#include "gml_types.h"
#include "gml_errors.h"

static const struct {
	const char *name;
	const char *text;
} gml_err_table[GML_E__COUNT] = {
	[GML_OK] = { "GML_OK", "success" },
	[GML_E_LEN_ZERO] = { "GML_E_LEN_ZERO", "length is zero" },
	[GML_E_LEN_WRAP] = { "GML_E_LEN_WRAP", "address + length wraps past 2^64" },
	[GML_E_NONCANONICAL] = { "GML_E_NONCANONICAL", "linear address not canonical for the paging mode" },
	[GML_E_NOT_PRESENT] = { "GML_E_NOT_PRESENT", "page not present" },
	[GML_E_READ_ONLY] = { "GML_E_READ_ONLY", "write to a read-only page" },
	[GML_E_USER_SUPERVISOR] = { "GML_E_USER_SUPERVISOR", "CPL3 caller named a supervisor page" },
	[GML_E_SMAP] = { "GML_E_SMAP", "supervisor data access to a user page with SMAP on and RFLAGS.AC clear" },
	[GML_E_SMEP] = { "GML_E_SMEP", "supervisor execute of a user page with SMEP on" },
	[GML_E_NX] = { "GML_E_NX", "execute of a no-execute page" },
	[GML_E_PKEY] = { "GML_E_PKEY", "protection key forbids the access" },
	[GML_E_RESERVED_BIT] = { "GML_E_RESERVED_BIT", "reserved bit set in a paging entry" },
	[GML_E_GPA_OUTSIDE_RAM] = { "GML_E_GPA_OUTSIDE_RAM", "guest-physical address outside RAM" },
	[GML_E_GPA_MMIO] = { "GML_E_GPA_MMIO", "guest-physical address in an MMIO range" },
	[GML_E_GPA_HV_REGION] = { "GML_E_GPA_HV_REGION", "guest-physical address in the hypervisor's region" },
	[GML_E_GPA_READ_ONLY] = { "GML_E_GPA_READ_ONLY", "write to read-only guest-physical memory" },
	[GML_E_GPA_UNMAPPED] = { "GML_E_GPA_UNMAPPED", "hypervisor could not map the guest-physical page" },
	[GML_E_PT_OUTSIDE_RAM] = { "GML_E_PT_OUTSIDE_RAM", "page-table page outside guest RAM" },
	[GML_E_PT_HV_REGION] = { "GML_E_PT_HV_REGION", "page-table page in the hypervisor's region" },
	[GML_E_PT_CHANGED] = { "GML_E_PT_CHANGED", "page tables changed during the walk too often; retry" },
	[GML_E_UNSUPPORTED_MODE] = { "GML_E_UNSUPPORTED_MODE", "paging mode not supported (legacy 32-bit / PAE)" },
	[GML_E_UNKNOWN_SERVICE] = { "GML_E_UNKNOWN_SERVICE", "unknown service" },
	[GML_E_NAME_UNTERMINATED] = { "GML_E_NAME_UNTERMINATED", "service name not terminated within 256 bytes" },
	[GML_E_NAME_TOO_LONG] = { "GML_E_NAME_TOO_LONG", "service name longer than 255 characters" },
	[GML_E_NAME_EMPTY] = { "GML_E_NAME_EMPTY", "service name is empty" },
	[GML_E_NAME_DUPLICATE] = { "GML_E_NAME_DUPLICATE", "service name already registered" },
	[GML_E_REGISTRY_FULL] = { "GML_E_REGISTRY_FULL", "service registry is full" },
	[GML_E_INVALID_ARG] = { "GML_E_INVALID_ARG", "invalid argument (NULL pointer or impossible value)" },
	[GML_E_MEMMAP_FULL] = { "GML_E_MEMMAP_FULL", "too many ranges in the memory map" },
};

const char *gml_errname(gml_err e)
{
	if ((unsigned)e >= GML_E__COUNT || !gml_err_table[e].name)
		return "GML_E_?";
	return gml_err_table[e].name;
}

const char *gml_strerror(gml_err e)
{
	if ((unsigned)e >= GML_E__COUNT || !gml_err_table[e].text)
		return "unknown error number";
	return gml_err_table[e].text;
}
