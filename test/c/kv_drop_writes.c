/*
 * A device that takes a write and does not keep it, for
 * sysport_kv_durability_SUITE: LD_PRELOADed into the release sysport_kv,
 * pwrite says it wrote everything and writes nothing while the file named
 * by KV_DROP_WRITES exists. Only syscalls the helper's seccomp filter
 * allows (newfstatat, pwrite64).
 */
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int dropping(void)
{
    const char *flag = getenv("KV_DROP_WRITES");
    struct stat st;

    return flag && stat(flag, &st) == 0;
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    if (dropping())
        return (ssize_t)n;
    return syscall(SYS_pwrite64, fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    return pwrite(fd, buf, n, off);
}
