/* The boot bundle (first multiboot module): kernel + initrd + cmdline in one file.
 * Shared by the hypervisor and tools/mkbundle (host), so only plain C types here.
 *
 *   offset 0   magic "GMLBNDL1"
 *          8   u32 header_size (4096)   u32 entry_count
 *         16   entry_count x { char name[16] (NUL-padded); u64 offset; u64 size }
 *   data at the offsets given, each 4096-aligned; little-endian. */
#ifndef GML_BUNDLE_FORMAT_H
#define GML_BUNDLE_FORMAT_H

#define GML_BUNDLE_MAGIC "GMLBNDL1"
#define GML_BUNDLE_HEADER_SIZE 4096
#define GML_BUNDLE_ALIGN 4096
#define GML_BUNDLE_NAME_LEN 16
#define GML_BUNDLE_MAX_ENTRIES ((GML_BUNDLE_HEADER_SIZE - 16) / 32)

struct gml_bundle_entry {
	char name[GML_BUNDLE_NAME_LEN];
	unsigned long long offset, size;
};

struct gml_bundle_header {
	char magic[8];
	unsigned int header_size, entry_count;
	/* struct gml_bundle_entry entries[entry_count]; */
};

#endif
