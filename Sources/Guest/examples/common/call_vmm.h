/* Where BitVisor's tools find call_vmm.h ("../common/call_vmm.h" from tools/<name>/), so their
 * programs build here unchanged. The implementation is lib/call_vmm.c. */
#include "../../lib/call_vmm.h"
