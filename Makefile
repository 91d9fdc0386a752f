# The two entry points a new user needs (see README.md). Both first make sure the host has the
# Debian packages and the running libvirt daemons the lab needs (scripts/setup-host, as root).
#
#   make run    build the images and run the default matrix from lab.json on this host
#   make test   run the whole test suite: unit tests and integration tests that boot real VMs
#   make fuzz   fuzz the hypervisor's real code on the host (SECONDS=n, default 60; no VMs, no
#               setup needed: Sources/Hypervisor/hostfuzz/README.md)

SWIFT ?= swift

.PHONY: setup run test doctor fuzz

setup:
	scripts/setup-host

run: setup
	$(SWIFT) run lab run

test: setup
	$(SWIFT) test --no-parallel

doctor: setup
	$(SWIFT) run lab doctor

fuzz:
	$(MAKE) -C Sources/Hypervisor/hostfuzz fuzz
