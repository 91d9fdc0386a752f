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

# The integration tests keep their results (VM logs, ~110 MB a run) under one directory: removed
# when everything passed, kept and named when something failed.
test: setup
	@dir=$$(mktemp -d /tmp/gmlab-it-XXXXXX); \
	if TMPDIR="$$dir" $(SWIFT) test --no-parallel; then \
		rm -rf "$$dir"; \
	else \
		status=$$?; \
		echo "make test: failed; the tests' results and VM logs are kept in $$dir"; \
		exit $$status; \
	fi

doctor: setup
	$(SWIFT) run lab doctor

fuzz:
	$(MAKE) -C Sources/Hypervisor/hostfuzz fuzz
