#include "kv_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sp_loop.h"

int kv_lock_acquire(const char *path, int exclusive, long long timeout_ms)
{
    /* Read-only is enough for flock, and works on a lock file another user
     * created; libubootenv opens it for writing, which changes nothing.
     * The lock usually sits in world-writable /var/lock: a symlink planted
     * there must not make us create or open a file elsewhere (O_NOFOLLOW
     * also stops O_CREAT), and a FIFO must not hang the open (O_NONBLOCK). */
    int fd = open(path, O_RDONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0666);
    long long deadline = sp_now_ms() + timeout_ms;
    long pause_us = 500;
    struct stat st;

    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -EINVAL;
    }
    /* Polling with LOCK_NB bounds the wait: a holder that never lets go
     * costs one request a timeout, not the helper. */
    while (flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) < 0) {
        int err = errno;

        if ((err != EWOULDBLOCK && err != EINTR) || sp_now_ms() >= deadline) {
            close(fd);
            return err == EWOULDBLOCK ? -ETIMEDOUT : -err;
        }
        usleep((useconds_t)pause_us);
        if (pause_us < 10000)
            pause_us *= 2;
    }
    return fd;
}

void kv_lock_release(int fd)
{
    if (fd >= 0) {
        flock(fd, LOCK_UN);
        close(fd);
    }
}
