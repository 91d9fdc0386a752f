/* Machine power-off for fatal errors: ACPI S5 through the FADT's PM1a control block
 * (SLP_TYP=0, which is S5 on QEMU's PIIX4/ICH9 and Bochs), then the well-known fallbacks. */
#include "fatal.h"
#include "power.h"
#include "printf.h"
#include "lib.h"
#include "x86.h"

static u16 pm1a_cnt;

static bool checksum_ok(const u8 *p, u64 n)
{
	u8 s = 0;
	for (u64 i = 0; i < n; i++)
		s += p[i];
	return s == 0;
}

static const u8 *find_rsdp(void)
{
	u16 ebda_seg; /* BIOS data area word at 0x40e: EBDA segment */
	asm volatile("movw 0x40e, %0" : "=r"(ebda_seg));
	u64 ebda = (u64)ebda_seg << 4;
	u64 areas[2][2] = { { ebda, ebda + 1024 }, { 0xE0000, 0x100000 } };
	for (int a = 0; a < 2; a++) {
		if (areas[a][0] < 0x400)
			continue;
		for (u64 p = areas[a][0]; p + 20 <= areas[a][1]; p += 16)
			if (!memcmp((const void *)p, "RSD PTR ", 8) && checksum_ok((const u8 *)p, 20))
				return (const u8 *)p;
	}
	return NULL;
}

void acpi_init(void)
{
	const u8 *rsdp = find_rsdp();
	if (!rsdp) {
		printf("GMLAB-HV: no ACPI RSDP; power-off will use fallback ports\n");
		return;
	}
	u8 rev = rsdp[15];
	u64 root;
	int esz;
	if (rev >= 2 && *(const u64 *)(rsdp + 24)) {
		root = *(const u64 *)(rsdp + 24);
		esz = 8;
	} else {
		root = *(const u32 *)(rsdp + 16);
		esz = 4;
	}
	if (root >= (4ULL << 30))
		return;
	u32 len = *(const u32 *)(root + 4);
	for (u32 off = 36; off + esz <= len; off += esz) {
		u64 t = esz == 8 ? *(const u64 *)(root + off) : *(const u32 *)(root + off);
		if (t && t < (4ULL << 30) && !memcmp((const void *)t, "FACP", 4)) {
			pm1a_cnt = (u16) * (const u32 *)(t + 64);
			printf("GMLAB-HV: ACPI FADT at 0x%llx, PM1a_CNT port 0x%x\n", t, pm1a_cnt);
			return;
		}
	}
	printf("GMLAB-HV: ACPI has no FADT; power-off will use fallback ports\n");
}

noreturn void machine_power_off(void)
{
	printf("GMLAB-HV: powering off\n");
	asm volatile("cli");
	if (pm1a_cnt)
		outw(pm1a_cnt, 1u << 13); /* SLP_TYP=0 | SLP_EN */
	outw(0x604, 1u << 13);            /* QEMU PIIX4/ICH9 */
	outw(0xb004, 1u << 13);           /* older QEMU, Bochs */
	for (const char *s = "Shutdown"; *s; s++)
		outb(0x8900, (u8)*s);     /* Bochs */
	for (;;)
		asm volatile("cli; hlt");
}
