/* What sysport_time may do once set up: see time_sandbox.c. */
#ifndef TIME_SANDBOX_H
#define TIME_SANDBOX_H

#include "sp_sandbox.h"

extern const sp_sandbox_policy time_sandbox;

#endif
