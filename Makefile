# sysport: the two commands a newcomer runs are `make shell` and `make test`.
#
#   make shell        install missing build deps, build, open a shell with sysport running
#   make test         install missing test deps, then everything (make check): C unit tests (plain, ASan+UBSan, valgrind), fuzzing,
#                     eunit, common_test against sanitizer-built helpers (incl. the
#                     API contract and two-node suites), dialyzer, xref, edoc,
#                     interop (a Mix project using sysport: ExUnit, IEx), the
#                     release and cross-build tests, the QEMU system test
#   make bench        benchmarks, each printed beside a named peer
#   make fuzz         the fuzz targets for longer (FUZZ_SECONDS, default 600 each)
#   make fresh-test   both commands above in a fresh Debian 12 root (mmdebstrap)
#
# C test programs follow a naming rule instead of a list:
#   test/c/test_<x>.c and test/fuzz/fuzz_<x>[_anything].c are linked with
#   ports/lib/*.c and the modules in ports/<x>/ (every .c but the program,
#   sysport_<x>.c), with the libraries ports/<x>/sysport_<x>.mk names.

SHELL := /bin/bash
comma := ,
.SECONDEXPANSION:

# `make shell` and `make test` work on a machine that has only make, git and
# ca-certificates: they install what is missing first, then run make again,
# which can then ask erl for erl_interface. Until then config.mk (which needs
# erl) is not read.
DEPS_FIRST_GOALS := shell test deps deps-test fresh-test
ifeq ($(MAKECMDGOALS),)
include ports/config.mk
include $(wildcard ports/*/sysport_*.mk)
else ifneq ($(filter-out $(DEPS_FIRST_GOALS),$(MAKECMDGOALS)),)
include ports/config.mk
include $(wildcard ports/*/sysport_*.mk)
endif

# Everything make runs (tests, interop, bench, the shell) is on a host with
# its own time daemon: sysport_time's helper records clock changes instead
# of making them, whatever it is asked (the QEMU guest has its own env).
export SYSPORT_TIME_CLOCK := recording

REBAR ?= rebar3
C_BUILD := $(CURDIR)/_build/c
REL := $(C_BUILD)/release
SAN := $(C_BUILD)/san
FUZZ_DIR := $(C_BUILD)/fuzz
SAN_LOGS := $(SAN)/logs
FUZZ_SECONDS ?= 20
SYSTEM_TEST ?= 1

LIB_SRCS := $(wildcard ports/lib/*.c)
LIB_HDRS := $(wildcard ports/lib/*.h ports/*/*.h)
CTESTS := $(patsubst test/c/%.c,%,$(wildcard test/c/test_*.c))
FUZZERS := $(patsubst test/fuzz/%.c,%,$(wildcard test/fuzz/fuzz_*.c))
# test_kv -> kv, fuzz_kv_env -> kv
prefix_of = $(firstword $(subst _, ,$(patsubst test_%,%,$(patsubst fuzz_%,%,$(1)))))
# ports/lib is linked into every test already.
mods_of = $(if $(filter lib,$(call prefix_of,$(1))),,$(filter-out %/sysport_$(call prefix_of,$(1)).c,$(wildcard ports/$(call prefix_of,$(1))/*.c)))
libs_of = $(LDLIBS_$(call prefix_of,$(1)))
incs_of = -Iports/$(call prefix_of,$(1))

TEST_CFLAGS := $(SP_CFLAGS) -Iports/lib -Itest/c
REL_CFLAGS := $(TEST_CFLAGS) $(SP_HARDEN) -O2 -g
SAN_CFLAGS := $(TEST_CFLAGS) $(SP_SAN_FLAGS)
# UBSan must stop the fuzzer: in recover mode a finding is printed and the run still passes.
FUZZ_CFLAGS := $(TEST_CFLAGS) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all

SAN_ENV := ASAN_OPTIONS=detect_leaks=1:log_path=$(SAN_LOGS)/asan:exitcode=86 \
           UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(SAN_LOGS)/ubsan
VALGRIND := valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite

.PHONY: all build ports shell deps deps-test test check fresh-test ctest ctest-san ctest-valgrind \
        fuzz fuzz-check helpers-san helpers-fallback testhelpers eunit ct check-san-logs dialyzer xref docs doc-chunks \
        interop release-test cross-test system-test bench readme-options clean

all: build

build:
	$(REBAR) compile

ports:
	$(MAKE) -C ports

deps:
	@.ci/install-deps build

deps-test:
	@.ci/install-deps test

shell: deps
	@$(MAKE) --no-print-directory build
	erl -pa _build/default/lib/*/ebin -eval 'case application:ensure_all_started(sysport) of {ok, _} -> sysport:status(); E -> io:format("sysport did not start: ~p~n", [E]) end.'

## C unit tests: built like the helpers (release flags), then again with
## ASan+UBSan, then run under valgrind.

$(REL)/test_%: test/c/test_%.c $(LIB_SRCS) $(LIB_HDRS) $$(call mods_of,test_$$*) | $(REL)
	$(CC) $(REL_CFLAGS) $(call incs_of,test_$*) $(SP_LDFLAGS) -o $@ $< $(call mods_of,test_$*) $(LIB_SRCS) $(call libs_of,test_$*) $(SP_RUNTIME_LIBS)
$(SAN)/test_%: test/c/test_%.c $(LIB_SRCS) $(LIB_HDRS) $$(call mods_of,test_$$*) | $(SAN)
	clang $(SAN_CFLAGS) $(call incs_of,test_$*) -o $@ $< $(call mods_of,test_$*) $(LIB_SRCS) $(call libs_of,test_$*) $(SP_RUNTIME_LIBS)
$(REL)/sysport_testhelper: test/c/sysport_testhelper.c $(LIB_SRCS) $(LIB_HDRS) | $(REL)
	$(CC) $(REL_CFLAGS) $(SP_LDFLAGS) -o $@ $< $(LIB_SRCS) $(SP_RUNTIME_LIBS)
	strip -o $@.stripped $@
# A pwrite that drops writes on demand, preloaded into the release kv helper.
$(REL)/kv_drop_writes.so: test/c/kv_drop_writes.c | $(REL)
	$(CC) $(TEST_CFLAGS) -O2 -fPIC -shared -o $@ $<
$(SAN)/sysport_testhelper: test/c/sysport_testhelper.c $(LIB_SRCS) $(LIB_HDRS) | $(SAN)
	clang $(SAN_CFLAGS) -o $@ $< $(LIB_SRCS) $(SP_RUNTIME_LIBS)
$(FUZZ_DIR)/fuzz_%: test/fuzz/fuzz_%.c $(LIB_SRCS) $(LIB_HDRS) $$(call mods_of,fuzz_$$*) | $(FUZZ_DIR)
	clang $(FUZZ_CFLAGS) $(call incs_of,fuzz_$*) -o $@ $< $(call mods_of,fuzz_$*) $(LIB_SRCS) $(call libs_of,fuzz_$*) $(SP_RUNTIME_LIBS)
$(REL) $(SAN) $(FUZZ_DIR) $(SAN_LOGS):
	mkdir -p $@

ctest: $(addprefix $(REL)/,$(CTESTS))
	@set -e; for t in $^; do echo "== $$t"; $$t; done

ctest-san: $(addprefix $(SAN)/,$(CTESTS)) | $(SAN_LOGS)
	@set -e; for t in $^; do echo "== $$t (ASan+UBSan)"; $(SAN_ENV) $$t; done

ctest-valgrind: $(addprefix $(REL)/,$(CTESTS))
	@set -e; for t in $^; do echo "== $$t (valgrind)"; $(VALGRIND) $$t > /dev/null; echo ok; done

testhelpers: $(REL)/sysport_testhelper $(SAN)/sysport_testhelper $(REL)/kv_drop_writes.so

# The production helpers built with ASan+UBSan: common_test runs against these.
helpers-san:
	$(MAKE) -C ports SAN=1 O=$(SAN)/obj PRIV=$(SAN)/priv

# Release helpers as a machine without libcap-ng and libseccomp builds them
# (capabilities by capset, no filter): sysport_sandbox_SUITE's fallback group.
helpers-fallback:
	$(MAKE) -C ports SP_SANDBOX_LIBS=fallback O=$(C_BUILD)/fallback/obj PRIV=$(C_BUILD)/fallback/priv

## Fuzzing: every target runs FUZZ_SECONDS in `make test`; `make fuzz` longer.
## New inputs go to a scratch corpus; the committed seeds stay as they are.

fuzz-check: $(addprefix $(FUZZ_DIR)/,$(FUZZERS))
	@set -e; for f in $(FUZZERS); do \
	  mkdir -p $(FUZZ_DIR)/corpus/$$f test/fuzz/corpus/$$f; \
	  echo "== $$f for $(FUZZ_SECONDS)s"; \
	  $(FUZZ_DIR)/$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_DIR)/crash-$$f- $(FUZZ_DIR)/corpus/$$f test/fuzz/corpus/$$f \
	    2>&1 | grep -E '^(stat::number_of_executed_units|stat::new_units_added)|ERROR|SUMMARY|Test unit' ; \
	  test $${PIPESTATUS[0]} -eq 0; \
	done

fuzz:
	$(MAKE) fuzz-check FUZZ_SECONDS=$${FUZZ_SECONDS:-600}

## Erlang

eunit:
	$(REBAR) eunit

# common_test runs every service against its sanitizer-built helper; any
# sanitizer report left in the log directory fails the run.
ct: testhelpers helpers-san helpers-fallback | $(SAN_LOGS)
	rm -f $(SAN_LOGS)/*
	SYSPORT_HELPER_DIR=$(SAN)/priv SYSPORT_TEST_BIN=$(C_BUILD) $(SAN_ENV) $(REBAR) ct $(CT_ARGS)
	@$(MAKE) --no-print-directory check-san-logs

check-san-logs:
	@if ls $(SAN_LOGS)/* >/dev/null 2>&1; then \
	  echo "sanitizer reports:"; cat $(SAN_LOGS)/*; exit 1; \
	else echo "no sanitizer reports"; fi

dialyzer:
	$(REBAR) dialyzer

xref:
	$(REBAR) xref

## Reference docs. `make docs`: HTML for the public modules (erl/, not the
## tests or benchmarks) into doc/, with erl/overview.edoc as the front
## page; any edoc warning fails it. `make doc-chunks`, run by rebar3 after
## every compile: the same docs as EEP-48 chunks beside the build's ebin,
## where h(sysport_kv) in the Erlang shell and h :sysport_kv in IEx find
## them (code:get_doc/1 reads <app dir>/doc/chunks).
EDOC_OPTS := [{preprocess, true}, {includes, ["erl"]}, {application, sysport}]
EDOC_FILES := $(sort $(wildcard erl/*.erl))
edoc = erl -noshell -eval 'case code:which(edoc) of non_existing -> io:format("edoc is not installed (Debian: erlang-edoc): $(2) skipped~n"); _ -> ok = edoc:files(filelib:wildcard("erl/*.erl"), $(1) ++ $(EDOC_OPTS)) end, halt().'

docs:
	@mkdir -p $(C_BUILD); rm -rf doc; \
	$(call edoc,[{dir$(comma) "doc"}$(comma) {overview$(comma) "erl/overview.edoc"}],HTML docs) > $(C_BUILD)/edoc.log 2>&1; \
	status=$$?; cat $(C_BUILD)/edoc.log; \
	if [ $$status -ne 0 ] || grep -qiE 'warning|error|skipped' $(C_BUILD)/edoc.log; then \
	  echo "docs: edoc reported problems"; exit 1; fi

# The build's own app directory, as ports/Makefile finds it: Mix's bare
# compiler output, a rebar3 _checkouts dependency's, else rebar3's lib/.
DOC_APP_DIR := $(or $(REBAR_BARE_COMPILER_OUTPUT_DIR),$(if $(and $(REBAR_CHECKOUTS_OUT_DIR),$(filter $(realpath $(REBAR_CHECKOUTS_DIR)/sysport),$(CURDIR))),$(REBAR_CHECKOUTS_OUT_DIR)/sysport),$(if $(REBAR_DEPS_DIR),$(REBAR_DEPS_DIR)/sysport),$(CURDIR)/_build/default/lib/sysport)
DOC_CHUNKS := $(DOC_APP_DIR)/doc/chunks

doc-chunks: $(DOC_CHUNKS)/.built
$(DOC_CHUNKS)/.built: $(EDOC_FILES)
	@mkdir -p $(DOC_CHUNKS)
	@$(call edoc,[{dir$(comma) "$(DOC_APP_DIR)/doc"}$(comma) {doclet$(comma) edoc_doclet_chunks}$(comma) {layout$(comma) edoc_layout_chunks}],doc chunks)
	@touch $@

# The option tables in README.md, written from each service's schema
# (sysport_readme_tests fails while they differ).
readme-options: build
	@mkdir -p $(C_BUILD)/readme && erlc -o $(C_BUILD)/readme test/sysport_readme.erl && \
	erl -noshell -pa _build/default/lib/sysport/ebin -pa $(C_BUILD)/readme -eval 'sysport_readme:update().'

# sysport as a Mix dependency: test/interop/elixir's ExUnit tests, from every
# service's API to an IEx session in tmux (test/interop/run).
interop: build $(REL)/sysport_testhelper
	test/interop/run

# The device release (rebar3 release): started, queried with eval, stopped,
# then copied elsewhere with the build output deleted and run again.
release-test:
	test/release/run

# The helpers built as a cross toolchain builds them (CC=clang, the user's
# CFLAGS/LDFLAGS, ERL_EI_* with no erl, -static-pie where the archives
# exist), each build then run under sysport; and sysport as a Mix and a
# rebar3 dependency built for the host and a target from one checkout.
cross-test: build
	test/cross/run

# Boots Debian's kernel in QEMU (TCG) with the BEAM as the only program;
# says so in one line and fails when QEMU or the kernel image is missing.
system-test: build $(REL)/sysport_testhelper
	test/system/run

test: deps-test
	@$(MAKE) --no-print-directory check

# make test without installing anything.
check: build ctest ctest-san ctest-valgrind fuzz-check eunit ct dialyzer xref docs interop \
       release-test cross-test
	@if [ "$(SYSTEM_TEST)" = 1 ]; then $(MAKE) --no-print-directory system-test; fi
	@echo "make test: all passed"

# The README's two commands on a fresh Debian 12 (mmdebstrap --variant=apt
# with only make, git and ca-certificates; the pristine root is cached):
# a clone of HEAD runs `make shell` at a terminal, as a person would, and
# then `make test` (FRESH_COMMANDS="shell" for the first only).
fresh-test: deps-test
	test/fresh/run

bench: build $(REL)/sysport_testhelper
	bench/run

clean:
	$(REBAR) clean
	rm -rf _build/c ports/obj
