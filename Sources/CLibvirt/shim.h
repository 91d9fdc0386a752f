#include <stddef.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

/* Typed lifecycle-event registration. libvirt's API takes a generic callback that the C caller
 * casts with VIR_DOMAIN_EVENT_CALLBACK(); doing the cast here keeps the Swift side free of
 * unsafeBitCast between function-pointer types. Events are delivered on the thread that runs
 * virEventRunDefaultImpl(). */
typedef void (*gmlab_lifecycle_callback)(virConnectPtr conn, virDomainPtr dom,
                                         int event, int detail, void *opaque);

static inline int gmlab_register_lifecycle_events(virConnectPtr conn,
                                                  gmlab_lifecycle_callback callback,
                                                  void *opaque, virFreeCallback free_opaque) {
    return virConnectDomainEventRegisterAny(conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                            VIR_DOMAIN_EVENT_CALLBACK(callback), opaque,
                                            free_opaque);
}
