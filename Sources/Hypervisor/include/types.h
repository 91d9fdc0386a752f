/* Fixed-width types for the freestanding hypervisor (no libc headers). */
#ifndef HV_TYPES_H
#define HV_TYPES_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef signed char s8;
typedef short s16;
typedef int s32;
typedef long long s64;
typedef unsigned long ulong;
typedef unsigned long size_t;
typedef long ssize_t;
typedef unsigned long uintptr_t;
typedef _Bool bool;
#define true 1
#define false 0
#ifndef NULL
#define NULL ((void *)0)
#endif

#define PAGE_SIZE 4096ULL
#define PAGE_2M (2ULL << 20)
#define PAGE_1G (1ULL << 30)
#define ALIGN_UP(x, a) (((x) + ((a) - 1)) & ~((u64)(a) - 1))
#define ALIGN_DOWN(x, a) ((x) & ~((u64)(a) - 1))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define noreturn __attribute__((noreturn))
#define packed __attribute__((packed))

#endif
