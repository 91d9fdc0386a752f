/* Reads the boot bundle (format: include/bundle_format.h, README.md). */
#include "linuxboot.h"
#include "bundle_format.h"
#include "hvmem.h"
#include "lib.h"
#include "printf.h"
#include "fatal.h"

void bundle_parse(u64 base, u64 size, struct bundle *out)
{
	const u8 *p = phys_to_virt(base);
	memset(out, 0, sizeof(*out));
	out->base = base;
	out->size = size;
	if (size < GML_BUNDLE_HEADER_SIZE)
		hv_fatal("bundle at 0x%llx: %llu bytes, shorter than its %u-byte header", base, size,
			 GML_BUNDLE_HEADER_SIZE);
	const struct gml_bundle_header *h = (const void *)p;
	if (memcmp(h->magic, GML_BUNDLE_MAGIC, 8))
		hv_fatal("bundle at 0x%llx: bad magic (want \"%s\"); is the first module a bundle made "
			 "by tools/mkbundle?", base, GML_BUNDLE_MAGIC);
	if (h->header_size != GML_BUNDLE_HEADER_SIZE)
		hv_fatal("bundle: header_size %u, want %u", h->header_size, GML_BUNDLE_HEADER_SIZE);
	if (h->entry_count > GML_BUNDLE_MAX_ENTRIES)
		hv_fatal("bundle: entry_count %u exceeds %u", h->entry_count,
			 (unsigned)GML_BUNDLE_MAX_ENTRIES);
	const struct gml_bundle_entry *e = (const void *)(p + 16);
	for (u32 i = 0; i < h->entry_count; i++) {
		char name[GML_BUNDLE_NAME_LEN + 1];
		memcpy(name, e[i].name, GML_BUNDLE_NAME_LEN);
		name[GML_BUNDLE_NAME_LEN] = 0;
		u64 off = e[i].offset, sz = e[i].size;
		if (off % GML_BUNDLE_ALIGN || off < GML_BUNDLE_HEADER_SIZE || off > size || sz > size - off)
			hv_fatal("bundle entry %u \"%s\": offset 0x%llx size 0x%llx outside the %llu-byte "
				 "bundle or not 4096-aligned", i, name, off, sz, size);
		printf("GMLAB-HV: bundle entry \"%s\" at 0x%llx, %llu bytes\n", name, base + off, sz);
		if (!strcmp(name, "kernel")) {
			out->kernel = p + off;
			out->kernel_size = sz;
		} else if (!strcmp(name, "initrd")) {
			out->initrd_gpa = base + off;
			out->initrd_size = sz;
		} else if (!strcmp(name, "cmdline")) {
			out->cmdline = (const char *)(p + off);
			out->cmdline_len = strnlen(out->cmdline, sz);
		} else
			printf("GMLAB-HV: bundle entry \"%s\" ignored (unknown name)\n", name);
	}
	if (!out->kernel || !out->kernel_size)
		hv_fatal("bundle has no (or an empty) \"kernel\" entry");
}
