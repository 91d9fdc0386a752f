/* The hypervisor's own console: a 16550 UART on COM3 (0x3e8), hidden from the guest. */
#ifndef HV_SERIAL_H
#define HV_SERIAL_H
#include "types.h"

#define HV_SERIAL_PORT 0x3e8
#define HV_SERIAL_NPORTS 8

void serial_init(void);
void serial_putc(char c);

#endif
