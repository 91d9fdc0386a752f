/* Seed API on BitVisor: printf() is BitVisor's, to its log (COM1 in the lab's configuration). */
#ifndef GMLAB_BV_PRINTF_H
#define GMLAB_BV_PRINTF_H
#include "types.h"
#include <core/printf.h>

#endif
