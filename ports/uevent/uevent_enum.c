#include "uevent_enum.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libudev.h>

#include "sp_ascii.h"

/* libudev is loaded where it is used, in the short-lived enumeration
 * child: the long-lived helper then never maps it (nor the libc pages its
 * loading touches), about 300 KiB of RSS. */
#define UDEV_FUNCTIONS(X)                                                                               \
    X(udev_new) X(udev_unref) X(udev_enumerate_new) X(udev_enumerate_unref)                          \
    X(udev_enumerate_scan_devices) X(udev_enumerate_get_list_entry) X(udev_list_entry_get_next)      \
    X(udev_list_entry_get_name) X(udev_device_new_from_syspath) X(udev_device_unref)                 \
    X(udev_device_get_subsystem) X(udev_device_get_syspath) X(udev_device_get_devpath)               \
    X(udev_device_get_sysattr_value)

#define DECLARE(f) __typeof__(f) *f;
static struct {
    UDEV_FUNCTIONS(DECLARE)
} lib;

static char load_error[256];

const char *uevent_enum_load_error(void)
{
    return load_error;
}

static int load_libudev(void)
{
    static void *handle;

    if (handle)
        return 0;
    handle = dlopen("libudev.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        /* Not ENOENT: that would read as a missing sysfs file. A system
         * image without libudev (it is dlopened, so tools that follow
         * DT_NEEDED miss it) must be told so. */
        const char *why = dlerror();

        snprintf(load_error, sizeof(load_error), "%s", why ? why : "dlopen libudev.so.1 failed");
        errno = ELIBACC;
        return -1;
    }
#define RESOLVE(f)                                                                                      \
    if (!(lib.f = (__typeof__(f) *)dlsym(handle, #f))) {                                                \
        errno = ENOSYS;                                                                                 \
        return -1;                                                                                      \
    }
    UDEV_FUNCTIONS(RESOLVE)
    return 0;
}

int uevent_enum_scan(uevent_enum_cb cb, void *ctx)
{
    struct udev *udev;
    struct udev_enumerate *e;
    struct udev_list_entry *entry;
    int count = 0, rc;

    if (load_libudev() < 0)
        return -1;
    udev = lib.udev_new();
    e = udev ? lib.udev_enumerate_new(udev) : NULL;
    if (!e) {
        lib.udev_unref(udev);
        errno = ENOMEM;
        return -1;
    }
    rc = lib.udev_enumerate_scan_devices(e);
    if (rc < 0) {
        lib.udev_enumerate_unref(e);
        lib.udev_unref(udev);
        errno = -rc;
        return -1;
    }
    for (entry = lib.udev_enumerate_get_list_entry(e); entry; entry = lib.udev_list_entry_get_next(entry)) {
        struct udev_device *dev = lib.udev_device_new_from_syspath(udev, lib.udev_list_entry_get_name(entry));
        const char *subsystem, *uevent_file;

        if (!dev)
            continue; /* removed since the scan */
        subsystem = lib.udev_device_get_subsystem(dev);
        uevent_file = lib.udev_device_get_sysattr_value(dev, "uevent");
        if (subsystem) {
            cb(lib.udev_device_get_syspath(dev), lib.udev_device_get_devpath(dev), subsystem,
               uevent_file ? uevent_file : "", ctx);
            count++;
        }
        lib.udev_device_unref(dev);
    }
    lib.udev_enumerate_unref(e);
    lib.udev_unref(udev);
    return count;
}

struct trigger {
    const char *uuid;
    int failed;
};

static void trigger_one(const char *syspath, const char *devpath, const char *subsystem, const char *uevent_file,
                        void *ctx)
{
    struct trigger *t = ctx;
    char path[4096], cmd[128];
    int fd, len = snprintf(cmd, sizeof(cmd), "add %s", t->uuid);

    (void)devpath, (void)subsystem, (void)uevent_file;
    if ((size_t)snprintf(path, sizeof(path), "%s/uevent", syspath) >= sizeof(path)) {
        t->failed++;
        return;
    }
    fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, cmd, (size_t)len) != len)
        t->failed++;
    if (fd >= 0)
        close(fd);
}

int uevent_enum_trigger(const char *uuid, int *failed)
{
    struct trigger t = {uuid, 0};
    int n = uevent_enum_scan(trigger_one, &t);

    *failed = t.failed;
    return n;
}

/* Subsystems already found to be a bus or a class. They outlive their
 * devices, so a positive answer can be kept. */
#define KNOWN_MAX 32
static struct {
    char name[KNOWN_MAX][64];
    int count;
} known;

/* "/sys/<dir>/<name>" exists. Built with memcpy: this runs for events, and
 * printf's pages are not worth touching for it. */
static int sysfs_has(const char *dir, const char *name, size_t len)
{
    char path[128];
    size_t dlen = strlen(dir);

    memcpy(path, "/sys/", 5);
    memcpy(path + 5, dir, dlen);
    path[5 + dlen] = '/';
    memcpy(path + 6 + dlen, name, len);
    path[6 + dlen + len] = '\0';
    return access(path, F_OK) == 0;
}

static int is_bus_or_class(const char *subsystem, size_t len)
{
    for (int i = 0; i < known.count; i++)
        if (strlen(known.name[i]) == len && memcmp(known.name[i], subsystem, len) == 0)
            return 1;
    if (len == 0 || len >= sizeof(known.name[0]) || memchr(subsystem, '/', len) || memchr(subsystem, '\0', len) ||
        subsystem[0] == '.')
        return 0;
    if (!sysfs_has("class", subsystem, len) && !sysfs_has("bus", subsystem, len))
        return 0;
    if (known.count < KNOWN_MAX) {
        memcpy(known.name[known.count], subsystem, len);
        known.name[known.count++][len] = '\0';
    }
    return 1;
}

int uevent_enum_is_device(const char *devpath, size_t devpath_len, const char *subsystem, size_t subsystem_len)
{
    static const char prefix[] = "/devices/";

    return devpath_len > sizeof(prefix) - 1 && memcmp(devpath, prefix, sizeof(prefix) - 1) == 0 &&
           is_bus_or_class(subsystem, subsystem_len);
}

uint64_t uevent_enum_seqnum(void)
{
    char buf[32];
    unsigned long long seqnum;
    ssize_t n;
    int fd = open("/sys/kernel/uevent_seqnum", O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    while (n > 0 && buf[n - 1] == '\n')
        n--;
    if (n <= 0 || sp_parse_uint(buf, (size_t)n, 10, UINT64_MAX, &seqnum) < 0)
        return 0;
    return seqnum;
}
