/* Seed API: `current` is the calling vCPU; current->vmctl.read_general_reg() etc. */
#ifndef HV_CURRENT_H
#define HV_CURRENT_H
#include "types.h"
#include "vcpu.h"

extern struct vcpu *current;

#endif
