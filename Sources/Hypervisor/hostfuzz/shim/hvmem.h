/* Host-fuzzer shim over the real include/hvmem.h: everything as declared there, except that
 * phys_to_virt / virt_to_phys (the identity in the image) become the model's translation into
 * its host buffers (model.c). The real static inline identity is renamed out of the way. */
#ifndef HF_SHIM_HVMEM_H
#define HF_SHIM_HVMEM_H
#define phys_to_virt hf_image_identity_phys_to_virt
#define virt_to_phys hf_image_identity_virt_to_phys
#define guest_ram_ptr hf_image_guest_ram_ptr
#include_next "hvmem.h"
#undef phys_to_virt
#undef virt_to_phys
#undef guest_ram_ptr
void *phys_to_virt(u64 pa);
u64 virt_to_phys(const void *p);
/* The image's second mapping of guest RAM is, in the model, its RAM buffer as well. */
static inline void *guest_ram_ptr(u64 gpa) { return phys_to_virt(gpa); }
#endif
