/* Where the seed's programs (and BitVisor's tools) find call_vmm.h: "../common/call_vmm.h"
 * from their own directory, so they build here unchanged. The implementation is
 * lib/call_vmm.c (BitVisor's names over the lab's hypercall library). */
#include "../../lib/call_vmm.h"
