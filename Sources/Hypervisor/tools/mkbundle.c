/* mkbundle OUT --kernel K [--initrd I] [--cmdline "..."]
 * Writes a GuestMemLab boot bundle (include/bundle_format.h, README.md): the first multiboot
 * module the hypervisor reads its guest from. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bundle_format.h"

struct part {
	const char *name;
	unsigned char *data;
	unsigned long long size;
};

static void die(const char *fmt, const char *arg)
{
	fprintf(stderr, "mkbundle: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	exit(2);
}

static void usage(void)
{
	fprintf(stderr, "usage: mkbundle OUT --kernel KERNEL [--initrd INITRD] [--cmdline \"...\"]\n");
	exit(2);
}

static unsigned char *read_file(const char *path, unsigned long long *size)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		die("cannot open %s", path), exit(2);
	if (fseek(f, 0, SEEK_END) || ftell(f) < 0)
		die("cannot size %s", path);
	long n = ftell(f);
	rewind(f);
	unsigned char *buf = malloc(n ? n : 1);
	if (!buf || fread(buf, 1, n, f) != (size_t)n)
		die("cannot read %s", path);
	fclose(f);
	*size = (unsigned long long)n;
	return buf;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argv[1][0] == '-')
		usage();
	const char *out = argv[1];
	struct part parts[3];
	int n = 0;
	const char *kernel = NULL, *initrd = NULL, *cmdline = NULL;
	for (int i = 2; i < argc; i++) {
		if (i + 1 >= argc)
			die("option %s needs a value", argv[i]);
		if (!strcmp(argv[i], "--kernel"))
			kernel = argv[++i];
		else if (!strcmp(argv[i], "--initrd"))
			initrd = argv[++i];
		else if (!strcmp(argv[i], "--cmdline"))
			cmdline = argv[++i];
		else
			die("unknown option %s", argv[i]);
	}
	if (!kernel)
		die("%s", "--kernel is required");
	parts[n].name = "kernel";
	parts[n].data = read_file(kernel, &parts[n].size);
	if (!parts[n].size)
		die("kernel %s is empty", kernel);
	n++;
	if (initrd) {
		parts[n].name = "initrd";
		parts[n].data = read_file(initrd, &parts[n].size);
		n++;
	}
	if (cmdline) {
		parts[n].name = "cmdline";
		parts[n].size = strlen(cmdline) + 1; /* NUL included */
		parts[n].data = (unsigned char *)strdup(cmdline);
		n++;
	}
	unsigned char header[GML_BUNDLE_HEADER_SIZE];
	memset(header, 0, sizeof(header));
	memcpy(header, GML_BUNDLE_MAGIC, 8);
	unsigned int hs = GML_BUNDLE_HEADER_SIZE, count = (unsigned int)n;
	memcpy(header + 8, &hs, 4);
	memcpy(header + 12, &count, 4);
	unsigned long long off = GML_BUNDLE_HEADER_SIZE;
	for (int i = 0; i < n; i++) {
		struct gml_bundle_entry e;
		memset(&e, 0, sizeof(e));
		memcpy(e.name, parts[i].name, strlen(parts[i].name)); /* names are < 16 chars */
		e.offset = off;
		e.size = parts[i].size;
		memcpy(header + 16 + i * sizeof(e), &e, sizeof(e));
		off += (parts[i].size + GML_BUNDLE_ALIGN - 1) / GML_BUNDLE_ALIGN * GML_BUNDLE_ALIGN;
	}
	FILE *f = fopen(out, "wb");
	if (!f)
		die("cannot create %s", out);
	if (fwrite(header, 1, sizeof(header), f) != sizeof(header))
		die("cannot write %s", out);
	static const unsigned char zeros[GML_BUNDLE_ALIGN];
	for (int i = 0; i < n; i++) {
		unsigned long long pad = (GML_BUNDLE_ALIGN - parts[i].size % GML_BUNDLE_ALIGN) % GML_BUNDLE_ALIGN;
		if (fwrite(parts[i].data, 1, parts[i].size, f) != parts[i].size ||
		    fwrite(zeros, 1, pad, f) != pad)
			die("cannot write %s", out);
	}
	if (fclose(f))
		die("cannot finish %s", out);
	return 0;
}
