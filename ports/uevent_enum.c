#include "uevent_enum.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libudev.h>

int uenum_scan(uenum_cb cb, void *ctx)
{
    struct udev *udev = udev_new();
    struct udev_enumerate *e = udev ? udev_enumerate_new(udev) : NULL;
    struct udev_list_entry *entry;
    int count = 0, rc;

    if (!e) {
        udev_unref(udev);
        errno = ENOMEM;
        return -1;
    }
    rc = udev_enumerate_scan_devices(e);
    if (rc < 0) {
        udev_enumerate_unref(e);
        udev_unref(udev);
        errno = -rc;
        return -1;
    }
    udev_list_entry_foreach(entry, udev_enumerate_get_list_entry(e)) {
        struct udev_device *dev = udev_device_new_from_syspath(udev, udev_list_entry_get_name(entry));
        const char *subsystem, *uevent_file;

        if (!dev)
            continue; /* removed since the scan */
        subsystem = udev_device_get_subsystem(dev);
        uevent_file = udev_device_get_sysattr_value(dev, "uevent");
        if (subsystem) {
            cb(udev_device_get_syspath(dev), udev_device_get_devpath(dev), subsystem, uevent_file ? uevent_file : "", ctx);
            count++;
        }
        udev_device_unref(dev);
    }
    udev_enumerate_unref(e);
    udev_unref(udev);
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

int uenum_trigger(const char *uuid, int *failed)
{
    struct trigger t = {uuid, 0};
    int n = uenum_scan(trigger_one, &t);

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

static int is_bus_or_class(const char *subsystem, size_t len)
{
    char path[128];

    for (int i = 0; i < known.count; i++)
        if (strlen(known.name[i]) == len && memcmp(known.name[i], subsystem, len) == 0)
            return 1;
    if (len == 0 || len >= sizeof(known.name[0]) || memchr(subsystem, '/', len) || memchr(subsystem, '\0', len) ||
        subsystem[0] == '.')
        return 0;
    snprintf(path, sizeof(path), "/sys/class/%.*s", (int)len, subsystem);
    if (access(path, F_OK) < 0) {
        snprintf(path, sizeof(path), "/sys/bus/%.*s", (int)len, subsystem);
        if (access(path, F_OK) < 0)
            return 0;
    }
    if (known.count < KNOWN_MAX) {
        memcpy(known.name[known.count], subsystem, len);
        known.name[known.count++][len] = '\0';
    }
    return 1;
}

int uenum_is_device(const char *devpath, size_t devpath_len, const char *subsystem, size_t subsystem_len)
{
    static const char prefix[] = "/devices/";

    return devpath_len > sizeof(prefix) - 1 && memcmp(devpath, prefix, sizeof(prefix) - 1) == 0 &&
           is_bus_or_class(subsystem, subsystem_len);
}

uint64_t uenum_seqnum(void)
{
    char buf[32];
    ssize_t n;
    int fd = open("/sys/kernel/uevent_seqnum", O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    return strtoull(buf, NULL, 10);
}
