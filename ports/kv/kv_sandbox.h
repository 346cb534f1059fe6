/* What sysport_kv may do once set up: see kv_sandbox.c. */
#ifndef KV_SANDBOX_H
#define KV_SANDBOX_H

#include "sp_sandbox.h"

extern const sp_sandbox_policy kv_sandbox;

#endif
