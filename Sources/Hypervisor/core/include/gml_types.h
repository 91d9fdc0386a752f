/*
 * Fixed-width types for the hypervisor core.
 *
 * The core is compiled twice: into the freestanding hypervisor image (no libc headers; the
 * machine side's include/types.h defines the same names) and into the host library
 * HypervisorCore (-DGML_HOSTED). The typedefs below are *identical* to include/types.h so a
 * translation unit may include both, in either order (C11 allows repeating an identical
 * typedef). Keep them in step with include/types.h.
 */
#ifndef GML_TYPES_H
#define GML_TYPES_H

/* Hosted: the host library (-DGML_HOSTED) and Swift's importer (which sees no -D but is a hosted
 * compiler). Freestanding: the image, compiled with -ffreestanding. */
#if defined(GML_HOSTED) || __STDC_HOSTED__
#include <stddef.h>
#include <stdbool.h>
#else
typedef unsigned long size_t;
typedef _Bool bool;
#ifndef true
#define true 1
#define false 0
#endif
#ifndef NULL
#define NULL ((void *)0)
#endif
#endif

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef unsigned long ulong;

#define GML_PAGE_SIZE 4096ULL
#define GML_PAGE_2M (2ULL << 20)
#define GML_PAGE_1G (1ULL << 30)

/* Memory primitives. Compiler builtins: the host build resolves them to libc, the freestanding
 * image to the memcpy/memset its own lib provides (rep movsb), so no shim is needed. */
#define gml_memcpy(d, s, n) __builtin_memcpy((d), (s), (n))
#define gml_memset(d, c, n) __builtin_memset((d), (c), (n))

#endif
