/* COM3 driver, polled output only. The guest cannot reach this UART: the backend's I/O
 * permission bitmap intercepts 0x3e8-0x3ef (reads give 0xff, writes are dropped). */
#include "serial.h"
#include "x86.h"

void serial_init(void)
{
	outb(HV_SERIAL_PORT + 1, 0x00); /* no interrupts */
	outb(HV_SERIAL_PORT + 3, 0x80); /* DLAB */
	outb(HV_SERIAL_PORT + 0, 0x01); /* 115200 baud */
	outb(HV_SERIAL_PORT + 1, 0x00);
	outb(HV_SERIAL_PORT + 3, 0x03); /* 8N1 */
	outb(HV_SERIAL_PORT + 2, 0xC7); /* FIFO on, cleared */
	outb(HV_SERIAL_PORT + 4, 0x03); /* DTR RTS, OUT2 off: no IRQ */
}

void serial_putc(char c)
{
	if (c == '\n')
		serial_putc('\r');
	/* Bounded wait: a missing UART must not hang the hypervisor. */
	for (int i = 0; i < 100000 && !(inb(HV_SERIAL_PORT + 5) & 0x20); i++)
		;
	outb(HV_SERIAL_PORT, (u8)c);
}
