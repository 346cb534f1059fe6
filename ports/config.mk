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
# -U first: a compiler that defines _FORTIFY_SOURCE itself (Ubuntu's gcc)
# would otherwise warn of a redefinition, an error under -Werror.
SP_HARDEN := -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
SP_CFLAGS := -std=c11 -D_GNU_SOURCE $(SP_WARN) -I$(ERL_EI_INCLUDE_DIR)
SP_LDFLAGS := -pie -Wl,-z,relro,-z,now
# Debian ships ei as a static library only; it needs pthreads.
SP_EI_LIBS := -L$(ERL_EI_LIBDIR) -lei -lpthread

# Sanitizer builds use clang, whose ASan runtime is linked statically (so an
# LD_PRELOAD shim in a test still works).
SP_SAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
