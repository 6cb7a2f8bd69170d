# ukbench — see README.md. Every target installs what it needs.
GO      ?= go
BIN     := bin
PKGS    := ./...

.PHONY: all build build-static build-pie test deps-test deps-vm deps-apps deps-libvirt quickstart bench deps-bench clean

all: build

build: build-static build-pie

# Fully static binary (the smallest Linux guest image; a plain go build works
# too: its loader and libc go into the guest with it).
build-static:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/ukbench ./cmd/ukbench

# Externally linked PIE: what OSv runs (it hangs on fully static Go binaries).
build-pie:
	CGO_ENABLED=1 $(GO) build -trimpath -buildmode=pie -ldflags=-linkmode=external -o $(BIN)/ukbench-pie ./cmd/ukbench

# QEMU and apt's lists (the guest kernel is fetched with apt-get download)
# are required, and so are the servers the Linux guest copies from the host
# (NSD, BIND, lighttpd, Apache: the tests boot each), OpenSSH's server (the
# agents' and libvirt tests run Debian's sshd, each its own on a port of its
# own) and libvirt (the libvirt backend's tests start their own libvirtd);
# none of their services is started (scripts/install-deps.sh); and
# Chromium, for the browser check of report.html.
deps-test: deps-vm deps-apps deps-libvirt
	scripts/install-deps.sh openssh-server chromium

# The host servers the Linux guest's apps nsd, bind, lighttpd and apache copy
# (configs/utah-dns.yaml and utah-http.yaml run them); installed, not started.
deps-apps:
	scripts/install-deps.sh nsd bind9 lighttpd apache2

# The libvirt backend's tests start their own libvirtd and sshd from these
# (install-deps.sh starts no service: nothing listens once it is done).
deps-libvirt:
	scripts/install-deps.sh libvirt-daemon-system openssh-server

# What booting a guest needs (make quickstart): QEMU, and apt's lists for
# the guest kernel. No server: the agents' and libvirt tests' sshd comes
# with deps-test.
deps-vm:
	scripts/install-deps.sh --apt-lists qemu-system-x86 qemu-utils iproute2 util-linux openssh-client

# The OSv kernel the OSv tests boot: yours when UKBENCH_OSV_KERNEL names
# one, else the one kept beside this project for tests and CI
# (../shared/osv/loader-stripped.elf), when it is there; without one the
# OSv tests skip, saying so.
UKBENCH_OSV_KERNEL ?= $(abspath $(wildcard ../shared/osv/loader-stripped.elf))

# Every test event of the last make test (go test -json), for
# `go tool gotestsum tool slowest --jsonfile bin/test.json`.
TESTJSON ?= $(BIN)/test.json

# The test command (README, .ci/run): formatting, vet, the allocation
# tests (which -race would distort), then the race-enabled suite with
# UKBENCH_REQUIRE_QEMU set (what make test installs must be there: a test
# that lacks it fails instead of skipping) and the OSv kernel, when there
# is one (then every OSv test runs, and one that cannot fails). It prints
# a line per test (its result and time) and the output of a failed one,
# and ends with the list of the tests that skipped, and why (gotestsum's
# summary).
test: deps-test
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) test -count=1 -run 'Alloc' ./loadgen
	@echo "OSv tests: $(if $(UKBENCH_OSV_KERNEL),kernel $(UKBENCH_OSV_KERNEL),no kernel (UKBENCH_OSV_KERNEL unset, no ../shared/osv/loader-stripped.elf): they skip)"
	@mkdir -p $(dir $(TESTJSON))
	UKBENCH_REQUIRE_QEMU=1 UKBENCH_OSV_KERNEL=$(UKBENCH_OSV_KERNEL) $(GO) tool gotestsum \
		--format testname --format-hide-empty-pkg --jsonfile $(TESTJSON) \
		-- -race -count=1 -timeout 45m $(PKGS)

# The main job on its built-in default: configs/quickstart.yaml (native vs
# the Linux guest under QEMU, plus OSv when UKBENCH_OSV_KERNEL names an OSv
# kernel or UKBENCH_OSV_IMAGE an OSv image), into
# a new ukbench-results/quickstart-TIME/ with its report.
quickstart: build deps-vm
	$(BIN)/ukbench run configs/quickstart.yaml -o ukbench-results/quickstart-$$(date +%Y%m%d-%H%M%S)

deps-bench: deps-apps
	scripts/install-deps.sh dnsperf wrk httperf bind9-dnsutils time curl

bench: build-static deps-bench
	bench/dns.sh $(BIN)/ukbench
	bench/http.sh $(BIN)/ukbench

clean:
	rm -rf $(BIN)
