/* What sysport_sensors may do once set up: see hwmon_sandbox.c. */
#ifndef HWMON_SANDBOX_H
#define HWMON_SANDBOX_H

#include "sp_sandbox.h"

extern const sp_sandbox_policy hwmon_sandbox;

#endif
