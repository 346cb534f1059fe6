/*
 * PID 1 of the QEMU system test, in the spirit of Nerves' erlinit: bring up
 * the few things the Erlang VM needs, run it as the only program, and power
 * the machine off when it exits, saying how it exited.
 *
 * It reads /etc/sysport-init.conf, one directive per line, run in order:
 *
 *   hostname NAME
 *   env NAME=VALUE            set in the VM's environment
 *   modprobe MOD...           load modules (busybox modprobe -a)
 *   wait DEVICE MS            wait for a device node to appear
 *   fsck DEVICE               e2fsck -p; its exit status and output go to
 *                             /run/sysport-init/fsck and fsck.log
 *   mount DEVICE DIR FSTYPE   mount, creating DIR
 *   status_tty DEVICE         where "EXIT <status>" is written when the VM exits
 *   run PROGRAM ARG...        the VM (the last directive)
 *
 * proc, sys, devtmpfs, /run, /tmp and the loopback interface are set up
 * before any directive. On the way down: SIGTERM then SIGKILL to whatever
 * is left, sync, unmount what was mounted, reboot(RB_POWER_OFF).
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define CONF "/etc/sysport-init.conf"
#define STATE_DIR "/run/sysport-init"
#define MAX_ARGS 64
#define MAX_MOUNTS 8

static char *vm_env[MAX_ARGS + 1];
static int vm_env_count;
static char mounted[MAX_MOUNTS][256];
static int mounted_count;
static char status_tty[256];

static void say(const char *fmt, ...)
{
    va_list ap;

    fputs("sysport-init: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void console_fds(void)
{
    int fd = open("/dev/console", O_RDWR | O_NOCTTY);

    if (fd < 0)
        return;
    dup2(fd, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    if (fd > 2)
        close(fd);
    setvbuf(stderr, NULL, _IOLBF, 0);
}

static void mount_or_say(const char *src, const char *dir, const char *type,
                         unsigned long flags, const char *data)
{
    mkdir(dir, 0755);
    if (mount(src, dir, type, flags, data) < 0 && errno != EBUSY)
        say("mount %s on %s: %s", src, dir, strerror(errno));
}

static void loopback_up(void)
{
    struct ifreq ifr = {0};
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    if (s < 0)
        return;
    strcpy(ifr.ifr_name, "lo");
    if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
            say("lo up: %s", strerror(errno));
    }
    close(s);
}

/* Runs argv to completion, its output into log when given; returns its
 * wait status, or -1. */
static int run_wait(char *const argv[], const char *log)
{
    int status;
    pid_t pid = fork();

    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = log ? open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644) : -1;

        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(argv[0], argv);
        say("exec %s: %s", argv[0], strerror(errno));
        _exit(127);
    }
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return status;
}

static int split(char *line, char *argv[], int max)
{
    int n = 0;

    for (char *tok = strtok(line, " \t"); tok && n < max; tok = strtok(NULL, " \t"))
        argv[n++] = tok;
    argv[n] = NULL;
    return n;
}

static void write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    if (fd < 0)
        return;
    if (write(fd, text, strlen(text)) < 0)
        say("write %s: %s", path, strerror(errno));
    close(fd);
}

static void wait_for(const char *path, long ms)
{
    struct timespec tick = {0, 10 * 1000 * 1000};
    struct stat st;

    for (long waited = 0; stat(path, &st) < 0; waited += 10) {
        if (waited >= ms) {
            say("%s did not appear within %ld ms", path, ms);
            return;
        }
        nanosleep(&tick, NULL);
    }
}

/* Copies a file to the console. */
static void show(const char *path)
{
    char buf[4096];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        if (write(2, buf, (size_t)n) < 0)
            break;
    close(fd);
}

/* e2fsck's output is kept (a check can tell a journal replay after a power
 * cut from a clean unmount) and shown on the console. */
static void fsck(const char *device)
{
    char *argv[] = {"/sbin/e2fsck", "-p", (char *)device, NULL};
    char text[32];
    int status = run_wait(argv, STATE_DIR "/fsck.log");
    int code = status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : 255;

    show(STATE_DIR "/fsck.log");

    /* e2fsck: 0 clean, 1 errors corrected, 2 corrected and reboot wanted,
     * 4 and above: left uncorrected. */
    if (code != 0)
        say("e2fsck -p %s exited %d", device, code);
    snprintf(text, sizeof(text), "%d\n", code);
    write_file(STATE_DIR "/fsck", text);
}

static void do_mount(char *argv[], int argc)
{
    if (argc != 4) {
        say("mount needs DEVICE DIR FSTYPE");
        return;
    }
    mkdir(argv[2], 0755);
    if (mount(argv[1], argv[2], argv[3], MS_NOATIME, NULL) < 0) {
        say("mount %s on %s: %s", argv[1], argv[2], strerror(errno));
        return;
    }
    if (mounted_count < MAX_MOUNTS)
        snprintf(mounted[mounted_count++], sizeof(mounted[0]), "%s", argv[2]);
}

/* Returns the argv of the `run` directive (pointing into a static buffer). */
static char **configure(void)
{
    static char text[16384];
    static char *run_argv[MAX_ARGS + 1];
    char *argv[MAX_ARGS + 1], *line, *save = NULL;
    int fd = open(CONF, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, text, sizeof(text) - 1);

    if (fd >= 0)
        close(fd);
    if (n < 0) {
        say("cannot read " CONF);
        return NULL;
    }
    text[n] = '\0';
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        int argc;

        if (line[0] == '#')
            continue;
        argc = split(line, argv, MAX_ARGS);
        if (argc == 0)
            continue;
        if (strcmp(argv[0], "hostname") == 0 && argc == 2) {
            if (sethostname(argv[1], strlen(argv[1])) < 0)
                say("hostname: %s", strerror(errno));
        } else if (strcmp(argv[0], "env") == 0 && argc == 2 && vm_env_count < MAX_ARGS) {
            vm_env[vm_env_count++] = argv[1];
        } else if (strcmp(argv[0], "modprobe") == 0 && argc >= 2) {
            char *cmd[MAX_ARGS + 2] = {"/sbin/modprobe", "-a"};

            memcpy(cmd + 2, argv + 1, sizeof(argv[0]) * (size_t)argc);
            if (run_wait(cmd, NULL) != 0)
                say("modprobe failed");
        } else if (strcmp(argv[0], "wait") == 0 && argc == 3) {
            wait_for(argv[1], atol(argv[2]));
        } else if (strcmp(argv[0], "fsck") == 0 && argc == 2) {
            fsck(argv[1]);
        } else if (strcmp(argv[0], "mount") == 0) {
            do_mount(argv, argc);
        } else if (strcmp(argv[0], "status_tty") == 0 && argc == 2) {
            snprintf(status_tty, sizeof(status_tty), "%s", argv[1]);
        } else if (strcmp(argv[0], "run") == 0 && argc >= 2) {
            memcpy(run_argv, argv + 1, sizeof(argv[0]) * (size_t)argc);
            return run_argv;
        } else {
            say("ignoring directive: %s", argv[0]);
        }
    }
    say("no run directive in " CONF);
    return NULL;
}

static pid_t start_vm(char **argv)
{
    pid_t pid = fork();

    if (pid == 0) {
        sigset_t none;

        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        setsid();
        for (int i = 0; i < vm_env_count; i++)
            putenv(vm_env[i]);
        execv(argv[0], argv);
        say("exec %s: %s", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

/* Reaps every child (PID 1 inherits orphans) until the VM is gone. */
static int wait_vm(pid_t vm)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, 0);

        if (pid == vm)
            return status;
        if (pid < 0 && errno == ECHILD)
            return -1;
    }
}

static void report_exit(int status)
{
    char line[64];
    int fd;

    if (status < 0)
        snprintf(line, sizeof(line), "EXIT lost\n");
    else if (WIFEXITED(status))
        snprintf(line, sizeof(line), "EXIT %d\n", WEXITSTATUS(status));
    else
        snprintf(line, sizeof(line), "EXIT signal %d\n", WTERMSIG(status));
    say("the VM exited (%.*s), powering off", (int)strlen(line) - 1, line);
    if (status_tty[0] && (fd = open(status_tty, O_WRONLY | O_NOCTTY | O_CLOEXEC)) >= 0) {
        if (write(fd, line, strlen(line)) < 0)
            say("write %s: %s", status_tty, strerror(errno));
        tcdrain(fd);
        close(fd);
    }
}

static void power_off(void)
{
    struct timespec grace = {1, 0};

    kill(-1, SIGTERM);
    nanosleep(&grace, NULL);
    kill(-1, SIGKILL);
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    sync();
    for (int i = mounted_count - 1; i >= 0; i--)
        if (umount(mounted[i]) < 0 && umount2(mounted[i], MNT_DETACH) < 0)
            say("umount %s: %s", mounted[i], strerror(errno));
    sync();
    reboot(RB_POWER_OFF);
    for (;;)
        pause();
}

int main(void)
{
    char **vm_argv;
    sigset_t block;
    pid_t vm;

    if (getpid() != 1) {
        fprintf(stderr, "sysport-init: must run as PID 1\n");
        return 100;
    }
    /* Signals that would otherwise kill or stop PID 1's children are
     * blocked here; the VM gets a clean mask. */
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    sigprocmask(SIG_BLOCK, &block, NULL);

    mount_or_say("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
    console_fds();
    mount_or_say("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    mount_or_say("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    mount_or_say("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
    mount_or_say("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
    mkdir(STATE_DIR, 0755);
    mkdir("/run/lock", 0755);
    loopback_up();

    vm_argv = configure();
    if (vm_argv == NULL) {
        report_exit(-1);
        power_off();
    }
    vm = start_vm(vm_argv);
    report_exit(vm < 0 ? -1 : wait_vm(vm));
    power_off();
}
