/*
 * The seed's user-space example ("pass the guest-physical address, user-space side"), as the
 * seed writes it: malloc a page, mlock it, translate its address through /proc/self/pagemap
 * (root only since Linux 4.0), "abc", one hypercall with rbx = physical address and
 * rcx = length; the hypervisor's services/seed_phys.c turns it into "foo".
 * Expected output (case seed/phys-user):
 *     buf: abc
 *     buf: foo
 * Changes from the seed, nothing else: the service is looked up as "seed.phys" (the seed
 * registers "foo"); "vmcall" is SEED_VMCALL (../seed_vmcall.h: vmcall or vmmcall by CPU
 * vendor, the seed's operands unchanged); stdout is flushed before each hypercall so the
 * output is in order even through a pipe (the seed printed to a terminal).
 * Like the seed, it passes the length of a whole page from a start that malloc need not have
 * aligned, so the range may run into the next (unrelated) physical frame: the service only
 * touches its first four bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <inttypes.h>
#include <sys/mman.h>
#include "../seed_vmcall.h"
// http://stackoverflow.com/a/28987409
uintptr_t vtop(uintptr_t vaddr) {
FILE *pagemap;
intptr_t paddr = 0;
int offset = (vaddr / sysconf(_SC_PAGESIZE)) * sizeof(uint64_t);
uint64_t e;
// https://www.kernel.org/doc/Documentation/vm/pagemap.txt
if ((pagemap = fopen("/proc/self/pagemap", "r"))) {
if (lseek(fileno(pagemap), offset, SEEK_SET) == offset) {
if (fread(&e, sizeof(uint64_t), 1, pagemap)) {
if (e & (1ULL << 63)) { // page present ?
paddr = e & ((1ULL << 54) - 1); // pfn mask
paddr = paddr * sysconf(_SC_PAGESIZE);
// add offset within page
paddr = paddr | (vaddr & (sysconf(_SC_PAGESIZE) - 1));
}
}
}
fclose(pagemap);
}
return paddr;
}
int main(){
char *buf;
unsigned callnum;
uintptr_t phys;
unsigned len = sysconf(_SC_PAGESIZE);
buf = (char *)malloc(len);
if(buf == NULL){
printf("malloc failed\n");
return 1;
}
mlock(buf, len);
phys = vtop((uintptr_t)buf);
buf[0] = 'a'; buf[1] = 'b'; buf[2] = 'c'; buf[3] = '\0';
printf("buf: %s\n",buf);
fflush(stdout);
SEED_VMCALL (: "=a" (callnum)
: "a" (0), "b" ("seed.phys"));
if (callnum == 0) {
printf ("vmcall foo failed.\n");
return 1;
}
SEED_VMCALL (:
: "a" (callnum), "b" (phys)
, "c" (len));
printf("buf: %s\n",buf);
munlock(buf, len);
free(buf);
return 0;
}
