/* Freestanding string/memory helpers (gcc may also emit calls to memcpy/memset itself). */
#ifndef HV_LIB_H
#define HV_LIB_H
#include "types.h"

void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strstr(const char *hay, const char *needle);
/* Appends src to dst (capacity cap incl. NUL); returns false if it did not fit. */
bool strlcat_ok(char *dst, const char *src, size_t cap);

#endif
