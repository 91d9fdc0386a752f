/* Seed API: printf() writes to the hypervisor log (COM3). */
#ifndef HV_PRINTF_H
#define HV_PRINTF_H
#include "types.h"
#include <stdarg.h>

int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int vprintf(const char *fmt, va_list ap);
int snprintf(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int vsnprintf(char *buf, size_t cap, const char *fmt, va_list ap);

#endif
