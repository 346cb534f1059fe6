/* What sysport_uevent may do once set up: see uevent_sandbox.c. */
#ifndef UEVENT_SANDBOX_H
#define UEVENT_SANDBOX_H

#include "sp_sandbox.h"

extern const sp_sandbox_policy uevent_sandbox;
/* What the enumeration child may do (it stacks this on its parent's). */
extern const char *const uevent_enum_syscalls[];

#endif
