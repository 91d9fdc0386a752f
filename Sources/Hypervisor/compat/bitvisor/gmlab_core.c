/* The lab core's portable functions the services call, compiled on BitVisor from the lab's own
 * files (lab-headers.txt copies them into lab/ beside the headers): one source for both
 * hypervisors. Fault-in's decision (issue 14): which refused access becomes the #PF the guest's
 * own access would have raised, and its error code. */
#include "gml_faultin.c"
