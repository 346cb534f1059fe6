/*
 * The lock fw_printenv/fw_setenv (libubootenv) take around their
 * read-modify-write: flock(2) on a lock file, by default
 * /var/lock/fw_printenv.lock. Holding it keeps sysport and those tools from
 * interleaving.
 */
#ifndef KV_LOCK_H
#define KV_LOCK_H

/* Opens (creating it if needed) and flocks the lock file, shared or
 * exclusive, waiting up to timeout_ms. Never follows a symlink. Returns the
 * fd, -ETIMEDOUT when another holder kept it, -EINVAL when it is not a
 * regular file, or -errno when it cannot be opened (-ELOOP: a symlink). */
int kv_lock_acquire(const char *path, int exclusive, long long timeout_ms);
void kv_lock_release(int fd);

#endif
