# Luminous build. Sources are found by folder: src/<layer>/*.c go into libluminous.a,
# tests/unit/test_*.c each become one Criterion binary, tests/sim/*.c the simulator,
# tests/cluster/*.c one Criterion binary of process-level tests (real raftsrv processes).
CC      ?= cc
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -Iinclude -MMD -MP $(SAN)
LDFLAGS += $(SAN)
BUILD   ?= build

LIB_SRCS   := $(sort $(wildcard src/*/*.c))
LIB_OBJS   := $(LIB_SRCS:%.c=$(BUILD)/%.o)
CORE_OBJS  := $(filter $(BUILD)/src/raft/%,$(LIB_OBJS))
SIM_SRCS   := $(sort $(wildcard tests/sim/*.c))
SIM_OBJS   := $(SIM_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS  := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS  := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)
UNIT_HELP  := $(filter-out $(UNIT_SRCS),$(wildcard tests/unit/*.c))
UNIT_HOBJS := $(UNIT_HELP:%.c=$(BUILD)/%.o)
# tests/fault/: the linearizability checker, linked into the unit tests and the tools.
FAULT_OBJS := $(BUILD)/tests/fault/lincheck.o
CLUSTER_SRCS := $(sort $(wildcard tests/cluster/*.c))
CLUSTER_OBJS := $(CLUSTER_SRCS:%.c=$(BUILD)/%.o)
CLUSTER_BIN  := $(BUILD)/tests/cluster/test_cluster

SEEDS ?= 1-500
NODES ?= 3 5
# Seeds that once failed (seed:nodes), replayed on every run: each found a real bug. The
# first ones predate membership changes, snapshots and transfers in the simulator: they are
# replayed without them, which draws the same random numbers as the simulator they failed in.
SIM_REGRESSIONS_FIXED := 1:3 50:3 2231:5 134:3 4977:5
SIM_REGRESSIONS := 469:3 4125:5
SIM_FIXED := --no-membership --no-snapshots --no-transfers

BINS := $(BUILD)/raftsrv $(BUILD)/raftctl $(BUILD)/raftbench $(BUILD)/lincheck $(BUILD)/lintest

.PHONY: all test fault torture unit sim check-core deps asan clean run stop raftbench bench bench-etcd crash-torture \
        fuzz fuzz-build fuzz-corpus
all: $(BUILD)/libluminous.a $(BUILD)/sim $(BINS)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

# The core links as one object whose only global symbols are raft.h's functions, so its
# internal names (log_*, quorum_*, ...) can never clash with an application's.
$(BUILD)/raft-core.o: $(CORE_OBJS) include/luminous/raft.h
	ld -r -o $@.all $(CORE_OBJS)
	grep -oE '\braft_[a-z_]+\(' include/luminous/raft.h | tr -d '(' | sort -u > $@.syms
	objcopy --keep-global-symbols=$@.syms $@.all $@

$(BUILD)/libluminous.a: $(filter-out $(CORE_OBJS),$(LIB_OBJS)) $(BUILD)/raft-core.o
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/sim: $(SIM_OBJS) $(BUILD)/libluminous.a
	$(CC) $(LDFLAGS) -o $@ $^

$(BUILD)/raftsrv: $(BUILD)/src/raftsrv.o $(BUILD)/libluminous.a
	$(CC) $(LDFLAGS) -o $@ $^

$(BUILD)/raftctl: $(BUILD)/tools/raftctl.o $(BUILD)/tools/raftctl_status.o $(BUILD)/libluminous.a
	$(CC) $(LDFLAGS) -o $@ $^

$(BUILD)/raftbench: $(BUILD)/tools/raftbench.o $(BUILD)/libluminous.a
	$(CC) $(LDFLAGS) -o $@ $^

$(BUILD)/lincheck: $(BUILD)/tools/lincheck.o $(FAULT_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^

$(BUILD)/lintest: $(BUILD)/tools/lintest.o $(FAULT_OBJS) $(BUILD)/libluminous.a
	$(CC) $(LDFLAGS) -o $@ $^ -lpthread

# -lm: tests/unit/prom_check.h calls floor(), which only -O2 and up inline.
$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(UNIT_HOBJS) $(FAULT_OBJS) $(BUILD)/libluminous.a
	$(CC) $(LDFLAGS) -o $@ $^ -lcriterion -lm

$(CLUSTER_BIN): $(CLUSTER_OBJS) $(BUILD)/libluminous.a | $(BUILD)/libfaultshim.so
	$(CC) $(LDFLAGS) -o $@ $^ -lcriterion -lpthread -lm

# The cluster tests' disk fault injector, LD_PRELOADed into raftsrv (tests/fault/shim.c).
# Its own flags: position-independent, and no sanitizer (it loads before the runtime).
$(BUILD)/libfaultshim.so: tests/fault/shim.c
	@mkdir -p $(@D)
	$(CC) -O2 -g -std=c11 -Wall -Wextra -Werror -fPIC -shared -o $@ $< -ldl

# Tests, cheapest first: the core's purity, unit tests, the simulator, then real processes
# (one at a time: each test runs a CPU-heavy cluster).
test: deps all $(UNIT_BINS) $(CLUSTER_BIN) check-core
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t --jobs 2; done
	@echo "== tests/install/run.sh"; BUILD=$(BUILD) SAN="$(SAN)" MAKE="$(MAKE)" bash tests/install/run.sh
	@set -e; for n in $(NODES); do echo "== sim --seeds $(SEEDS) --nodes $$n"; \
	    $(BUILD)/sim --seeds $(SEEDS) --nodes $$n; done
	@set -e; for r in $(SIM_REGRESSIONS_FIXED); do \
	    $(BUILD)/sim --seed $${r%:*} --nodes $${r#*:} $(SIM_FIXED) | tail -n 1; done
	@set -e; for r in $(SIM_REGRESSIONS); do $(BUILD)/sim --seed $${r%:*} --nodes $${r#*:} | tail -n 1; done
	@echo "== $(CLUSTER_BIN)"; LUMINOUS_BIN_DIR=$(BUILD) $(CLUSTER_BIN) --jobs 1
	@$(FAULT_RUN)

# The fault test (tests/fault/nemesis.sh): nodes in network namespaces of its own under a
# nemesis, a history checked for linearizability; then a run with stale gets, which the
# checker must catch (else the test could not see what it looks for). It needs root and ip;
# without them it says so and passes. make test runs it for FAULT_SECONDS.
FAULT_SECONDS ?= 60
define FAULT_RUN
echo "== fault test: $(FAULT_SECONDS) s under the nemesis"; \
BIN_DIR=$(BUILD) DURATION=$(FAULT_SECONDS) bash tests/fault/nemesis.sh || exit 1; \
echo "== fault test: stale gets on purpose, the checker must find a violation"; \
BIN_DIR=$(BUILD) STALE=1 DURATION=20 bash tests/fault/nemesis.sh > $(BUILD)/fault-stale.out 2>&1; \
grep -E '^(nemesis: fault test skipped|overall:|faults injected|verdict)' $(BUILD)/fault-stale.out; \
grep -qE '^(verdict: NOT linearizable|nemesis: fault test skipped)' $(BUILD)/fault-stale.out || \
    { echo "the checker missed the stale reads: see $(BUILD)/fault-stale.out"; exit 1; }
endef

fault: all
	@$(FAULT_RUN)

# Long: the fault test for DURATION seconds (default 600), then TORTURE_ROUNDS rounds of the
# crash loop (below): together several hundred kill -9s, every acknowledged write checked.
TORTURE_ROUNDS ?= 100
torture: all $(BUILD)/raftbench
	@BIN_DIR=$(BUILD) DURATION=$(if $(DURATION),$(DURATION),600) bash tests/fault/nemesis.sh
	@ROUNDS=$(TORTURE_ROUNDS) BIN_DIR=$(BUILD) bash tools/crash-torture.sh

unit: deps $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do $$t; done

sim: $(BUILD)/sim
	@set -e; for n in $(NODES); do $(BUILD)/sim --seeds $(SEEDS) --nodes $$n; done

# The core must stay pure: no I/O or clock calls, no mutable global or static data.
check-core: $(CORE_OBJS)
	@sh tools/check-core-purity.sh $(CORE_OBJS)

# The test dependencies: Criterion, and pkg-config (the install test builds the example
# through it). Install them when we can, else say how.
deps:
	@missing=""; \
	[ -f /usr/include/criterion/criterion.h ] || missing=" libcriterion-dev"; \
	command -v pkg-config >/dev/null 2>&1 || missing="$$missing pkg-config"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing$$missing"; \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; \
	  else \
	    echo "missing:$$missing. Run: sudo apt-get update && sudo apt-get install -y$$missing"; \
	    exit 1; \
	  fi; \
	fi

# The whole test suite under AddressSanitizer and UndefinedBehaviorSanitizer.
asan:
	$(MAKE) test BUILD=build/asan SEEDS=1-200 \
	    SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"

# A local three-node cluster under data/ (ignored by git), and its stop.
run: all
	@sh tools/cluster.sh start

stop:
	@sh tools/cluster.sh stop

# Benchmarks (BENCHMARKS.md): a fresh 3-node cluster of its own per run, on free ports.
# Overridable: CLIENTS="1 8 64 256" DURATION=15 VSIZE=256 KEYS=10000 (and REPS, WARMUP).
raftbench: $(BUILD)/raftbench

bench: $(BUILD)/raftsrv $(BUILD)/raftctl $(BUILD)/raftbench
	@BIN_DIR=$(BUILD) bash tools/bench.sh

# The same sweep against etcd and Luminous, in alternation, and the ratios.
bench-etcd: $(BUILD)/raftsrv $(BUILD)/raftctl $(BUILD)/raftbench
	@BIN_DIR=$(BUILD) bash tools/bench-etcd.sh

# Crash consistency (issue 6): ROUNDS rounds of load + kill -9 of one node / the leader / a
# majority / all nodes on one loopback cluster, every acknowledged write read back after each.
ROUNDS ?= 200
crash-torture: $(BUILD)/raftsrv $(BUILD)/raftctl $(BUILD)/raftbench
	@ROUNDS=$(ROUNDS) BIN_DIR=$(BUILD) bash tools/crash-torture.sh

# Fuzzing (tests/fuzz/): libFuzzer targets for the peer and client codecs, the config parser,
# log recovery and the key-value machine, built with clang apart from the gcc build (their own
# objects under $(BUILD)/fuzz/, instrumented for coverage, ASan and UBSan). Each target runs
# FUZZ_SECONDS on a copy of its seed corpus in a temp dir, so the committed corpus does not
# grow; a crash, leak or UB report fails the run and leaves the input under
# $(BUILD)/fuzz/artifacts/. fuzz-corpus regenerates the seeds (tests/fuzz/make_corpus.c).
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 30
FUZZ_TARGETS := peer client config wal kv resp http
FUZZ_DIR     := $(BUILD)/fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS  := -O1 -g -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -Iinclude -MMD -MP \
                $(FUZZ_SAN) -fsanitize=fuzzer-no-link
FUZZ_LIB_OBJS := $(LIB_SRCS:%.c=$(FUZZ_DIR)/%.o)
FUZZ_BINS    := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)

$(FUZZ_DIR)/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_DIR)/libluminous.a: $(FUZZ_LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_DIR)/fuzz_%: $(FUZZ_DIR)/tests/fuzz/fuzz_%.o $(FUZZ_DIR)/libluminous.a
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^

# the targets' own objects are kept, so a rebuild does not recompile them
.SECONDARY: $(FUZZ_TARGETS:%=$(FUZZ_DIR)/tests/fuzz/fuzz_%.o)

fuzz-build: $(FUZZ_BINS)

fuzz: $(FUZZ_BINS)
	@mkdir -p $(FUZZ_DIR)/artifacts
	@set -e; for t in $(FUZZ_TARGETS); do \
	    echo "== fuzz_$$t for $(FUZZ_SECONDS) s"; \
	    corpus=$$(mktemp -d); cp tests/fuzz/corpus/$$t/* $$corpus/; \
	    rc=0; $(FUZZ_DIR)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	        -artifact_prefix=$(FUZZ_DIR)/artifacts/$$t- $$corpus \
	        > $(FUZZ_DIR)/fuzz_$$t.log 2>&1 || rc=$$?; \
	    rm -rf $$corpus; \
	    grep -E '^#[0-9]+[[:space:]]+DONE|^stat::(number_of_executed_units|peak_rss_mb|new_units_added)' \
	        $(FUZZ_DIR)/fuzz_$$t.log || true; \
	    if [ $$rc -ne 0 ]; then tail -n 40 $(FUZZ_DIR)/fuzz_$$t.log; \
	        echo "fuzz_$$t failed (exit $$rc): see $(FUZZ_DIR)/fuzz_$$t.log"; exit 1; fi; \
	done

# The seeds are made by the library itself (gcc build), so they are valid by construction.
fuzz-corpus: $(BUILD)/make_corpus
	$(BUILD)/make_corpus tests/fuzz/corpus

$(BUILD)/make_corpus: $(BUILD)/tests/fuzz/make_corpus.o $(BUILD)/libluminous.a
	$(CC) $(LDFLAGS) -o $@ $^

include mk/install.mk

clean:
	rm -rf build

-include $(LIB_OBJS:.o=.d) $(SIM_OBJS:.o=.d) $(UNIT_BINS:=.d) $(UNIT_HOBJS:.o=.d) \
         $(CLUSTER_OBJS:.o=.d) $(FUZZ_LIB_OBJS:.o=.d) $(FUZZ_TARGETS:%=$(FUZZ_DIR)/tests/fuzz/fuzz_%.d) \
         $(BUILD)/src/raftsrv.d $(BUILD)/tools/raftctl.d $(BUILD)/tools/raftbench.d \
         $(FAULT_OBJS:.o=.d) $(BUILD)/tools/lincheck.d $(BUILD)/tools/lintest.d
