/* The lab's service types on BitVisor: BitVisor's own (u8 … u64, ulong, size_t, bool) plus the
 * few names of the lab's include/types.h that services use. */
#ifndef GMLAB_BV_TYPES_H
#define GMLAB_BV_TYPES_H
#include <core/types.h>

typedef signed char s8;
typedef short s16;
typedef int s32;
typedef long long s64;
typedef long ssize_t;
typedef unsigned long uintptr_t;

#define PAGE_SIZE 4096ULL
#define PAGE_2M (2ULL << 20)
#define PAGE_1G (1ULL << 30)
#define ALIGN_UP(x, a) (((x) + ((a) - 1)) & ~((u64)(a) - 1))
#define ALIGN_DOWN(x, a) ((x) & ~((u64)(a) - 1))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
