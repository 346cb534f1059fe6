# Compiler settings shared by the helpers (ports/Makefile) and by the C tests,
# sanitizer builds and fuzz targets (the top-level Makefile).

# erl_interface (ei), in this order:
#  - ERL_EI_INCLUDE_DIR and ERL_EI_LIBDIR, the names Nerves, elixir_make and
#    Buildroot export for the target's ei. With both set nothing asks the
#    build machine's Erlang (a cross build's host may have none, or another).
#  - ERLANG_LIB_DIR_erl_interface, which rebar3 exports to its hooks;
#  - erl in PATH.
ifeq ($(and $(ERL_EI_INCLUDE_DIR),$(ERL_EI_LIBDIR)),)
ERL_EI_DIR := $(or $(ERLANG_LIB_DIR_erl_interface),$(shell erl -noshell -eval 'io:format("~s", [code:lib_dir(erl_interface)]), halt().' 2>/dev/null))
ifeq ($(ERL_EI_DIR),)
$(error erl_interface not found: set ERL_EI_INCLUDE_DIR and ERL_EI_LIBDIR, or put erl in PATH)
endif
ERL_EI_INCLUDE_DIR := $(or $(ERL_EI_INCLUDE_DIR),$(ERL_EI_DIR)/include)
ERL_EI_LIBDIR := $(or $(ERL_EI_LIBDIR),$(ERL_EI_DIR)/lib)
endif

SP_WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes

# Hardening. The compile flags go after the user's CFLAGS (ports/Makefile),
# so a -U_FORTIFY_SOURCE or -fno-stack-protector there does not undo them;
# the link flags go before the user's LDFLAGS (-static-pie must win), and a
# link that loses PIE, RELRO or BIND_NOW fails the build (check-hardening).
# -U first: a compiler that defines _FORTIFY_SOURCE itself (Ubuntu's gcc)
# would otherwise warn of a redefinition, an error under -Werror. FORTIFY
# level 3 needs gcc 12 or clang 9 (__builtin_dynamic_object_size); glibc
# treats it as 2 with older compilers.
SP_HARDEN_ALWAYS := -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=3 -fstack-protector-strong -fPIE
# These two exist for some targets only (-fcf-protection: x86 CET;
# -fstack-clash-protection: not every 32-bit target): a compiler that
# refuses one builds without it, and says so once per make.
sp_cc_accepts = $(shell $(CC) $(CFLAGS) -Werror $(1) -c -x c /dev/null -o /dev/null 2>/dev/null && echo $(1))
SP_HARDEN_TARGET := -fstack-clash-protection -fcf-protection
SP_HARDEN_ACCEPTED := $(foreach f,$(SP_HARDEN_TARGET),$(call sp_cc_accepts,$(f)))
ifneq ($(SP_HARDEN_ACCEPTED),$(SP_HARDEN_TARGET))
$(info sysport: $(CC) does not accept $(filter-out $(SP_HARDEN_ACCEPTED),$(SP_HARDEN_TARGET)) for this target: the helpers are built without it)
endif
SP_HARDEN := $(SP_HARDEN_ALWAYS) $(SP_HARDEN_ACCEPTED)
SP_CFLAGS := -std=c11 -D_GNU_SOURCE $(SP_WARN) -I$(ERL_EI_INCLUDE_DIR)
SP_LDFLAGS := -pie -Wl,-z,relro,-z,now
# Debian ships ei as a static library only; it needs pthreads.
SP_EI_LIBS := -L$(ERL_EI_LIBDIR) -lei -lpthread

# The sandbox (lib/sp_sandbox.c): libcap-ng and libseccomp when the
# compiler finds their headers, from their archives when installed (a
# helper then maps a few KiB of each instead of two shared libraries).
# SP_SANDBOX_LIBS=fallback builds without both (capabilities by capset,
# no seccomp filter) as a machine without them would; the ready info
# says so.
sp_cc_has_header = $(shell printf '\#include <%s>\n' $(1) | $(CC) $(CPPFLAGS) $(CFLAGS) -E -x c - -o /dev/null 2>/dev/null && echo yes)
sp_archive_or = $(or $(firstword $(wildcard $(shell $(CC) $(CFLAGS) $(LDFLAGS) -print-file-name=$(1)))),$(2))
ifneq ($(SP_SANDBOX_LIBS),fallback)
ifeq ($(call sp_cc_has_header,cap-ng.h),yes)
SP_SANDBOX_DEFS += -DSP_HAVE_LIBCAP_NG
SP_SANDBOX_LINK += $(call sp_archive_or,libcap-ng.a,-lcap-ng)
endif
ifeq ($(call sp_cc_has_header,seccomp.h),yes)
SP_SANDBOX_DEFS += -DSP_HAVE_LIBSECCOMP
SP_SANDBOX_LINK += $(call sp_archive_or,libseccomp.a,-lseccomp)
endif
endif
SP_CFLAGS += $(SP_SANDBOX_DEFS)
# What every program linked with ports/lib needs: the sandbox's libraries
# and ei.
SP_RUNTIME_LIBS := $(SP_SANDBOX_LINK) $(SP_EI_LIBS)

# Sanitizer builds use clang, whose ASan runtime is linked statically (so an
# LD_PRELOAD shim in a test still works).
# They install the sanitizer syscall list and serve the test-only request
# sandbox_violate (lib/sp_sandbox.h); release builds have neither.
SP_SAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all \
                -DSP_SANDBOX_SANITIZER -DSP_SANDBOX_TEST_REQUEST
