/* The memory and string helpers the lab's services use (memset, memcpy, strcmp, …): BitVisor's. */
#ifndef GMLAB_BV_LIB_H
#define GMLAB_BV_LIB_H
#include "types.h"
#include <core/string.h>

#endif
