/* Included before anything else in every lab file compiled into BitVisor (`-include`, set by
 * core/x86/gmlab/Makefile, which the lab writes in its copy of the checkout).
 *
 * Order matters: BitVisor's core/types.h makes `bool` a macro (`#define bool _Bool`), the lab's
 * gml_types.h declares `typedef _Bool bool`. The typedef must come first (after the macro it
 * would read `typedef _Bool _Bool`); the other names both declare are identical typedefs or
 * identical macro definitions, which C allows twice. */
#ifndef GMLAB_PRELUDE_H
#define GMLAB_PRELUDE_H

#include "gml_types.h"
#include <core/types.h>

/* Lets a service tell the two hypervisors apart where it really must (the lab's own services
 * never do: one source serves both). */
#define GMLAB_ON_BITVISOR 1

#endif
