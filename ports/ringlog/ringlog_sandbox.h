/* What sysport_ringlog may do once set up: see ringlog_sandbox.c. */
#ifndef RINGLOG_SANDBOX_H
#define RINGLOG_SANDBOX_H

#include "sp_sandbox.h"

extern const sp_sandbox_policy ringlog_sandbox;

#endif
