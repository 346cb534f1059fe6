# Compiler settings shared by the helpers (ports/Makefile) and by the C tests,
# sanitizer builds and fuzz targets (the top-level Makefile).

# erl_interface: rebar3 exports its location to hooks; otherwise ask erl.
ERL_EI_INCLUDE_DIR ?= $(shell erl -noshell -eval 'io:format("~s/include", [code:lib_dir(erl_interface)]), halt().')
ERL_EI_LIBDIR ?= $(shell erl -noshell -eval 'io:format("~s/lib", [code:lib_dir(erl_interface)]), halt().')

SP_WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
SP_HARDEN := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
SP_CFLAGS := -std=c11 -D_GNU_SOURCE $(SP_WARN) -I$(ERL_EI_INCLUDE_DIR)
SP_LDFLAGS := -pie -Wl,-z,relro,-z,now
# Debian ships ei as a static library only; it needs pthreads.
SP_EI_LIBS := -L$(ERL_EI_LIBDIR) -lei -lpthread

# Sanitizer builds use clang, whose ASan runtime is linked statically (so an
# LD_PRELOAD shim in a test still works).
SP_SAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
