/*
 * exp() and log() for libsensors, which needs them only to evaluate the
 * `^' and `` ` '' operators of `compute' expressions in its configuration.
 *
 * Linked statically, libsensors' references land here instead of pulling
 * in libm.so: loading libm runs all its IFUNC resolvers and maps ~300 KiB
 * of it into every helper, most of the helper's memory budget, for two
 * functions hardly any configuration uses. libm is loaded on first use
 * and the results are libm's own.
 */
#include <dlfcn.h>
#include <math.h>

#include "sp_proto.h"

static double (*libm_exp)(double);
static double (*libm_log)(double);

static int load_libm(void)
{
    static int failed;
    void *libm;

    if (libm_exp && libm_log)
        return 0;
    if (failed)
        return -1;
    libm = dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL);
    if (libm) {
        *(void **)&libm_exp = dlsym(libm, "exp");
        *(void **)&libm_log = dlsym(libm, "log");
    }
    if (!libm_exp || !libm_log) {
        failed = 1;
        sp_log("error", "cannot load exp and log from libm.so.6: %s", dlerror());
        return -1;
    }
    return 0;
}

/* Without libm a compute expression gives NaN, which the helper reports
 * as {error, not_finite} for the subfeatures it touches. */
double exp(double x)
{
    return load_libm() == 0 ? libm_exp(x) : NAN;
}

double log(double x)
{
    return load_libm() == 0 ? libm_log(x) : NAN;
}
