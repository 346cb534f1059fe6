/* What sysport_kmsg may do once set up: see kmsg_sandbox.c. */
#ifndef KMSG_SANDBOX_H
#define KMSG_SANDBOX_H

#include "sp_sandbox.h"

extern const sp_sandbox_policy kmsg_sandbox;

#endif
