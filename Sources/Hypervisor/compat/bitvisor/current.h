/* Seed API on BitVisor: `current` is BitVisor's own calling vCPU (core/x86/current.h), so the
 * seed's current->vmctl.read_general_reg(GENERAL_REG_RBX, &v) and write_general_reg() are
 * BitVisor's calls, unchanged. */
#ifndef GMLAB_BV_CURRENT_H
#define GMLAB_BV_CURRENT_H
#include "types.h"
#include "../current.h"

#endif
