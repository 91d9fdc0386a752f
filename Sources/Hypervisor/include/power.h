/* Powering the machine off (arch/power.c): the end of every fatal path, listed in README.md
 * "Ways the machine ends". */
#ifndef HV_POWER_H
#define HV_POWER_H
#include "types.h"

/* Finds the ACPI PM1a control block (FADT) for machine_power_off. */
void acpi_init(void);
/* Powers the machine off (ACPI PM1a_CNT, QEMU/Bochs fallbacks); halts if nothing works. */
noreturn void machine_power_off(void);

#endif
