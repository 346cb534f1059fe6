#include "hwmon_cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sensors/error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hwmon_config.h"
#include "hwmon_names.h"
#include "hwmon_value.h"
#include "sp_loop.h"

/* libsensors' default configuration (lib/init.c) */
#define DEFAULT_CONFIG "/etc/sensors3.conf"
#define ALT_CONFIG "/etc/sensors.conf"
#define CONFIG_DIR "/etc/sensors.d"
#define MAX_CONFIG_BYTES (4 << 20)

struct sub_entry {
    const sensors_subfeature *sub;
    int fd; /* -1: read through libsensors */
};

struct feature_entry {
    const sensors_feature *feature;
    char *label;
    int nsubs;
    struct sub_entry *subs;
};

struct chip_entry {
    const sensors_chip_name *chip;
    char name[HWMON_NAME_MAX];
    int nfeatures;
    struct feature_entry *features;
};

static struct {
    struct chip_entry *chips;
    int nchips;
    int open_files;
    /* feature names a compute statement may apply to */
    char **computed;
    int ncomputed;
    int all_computed; /* a config file could not be scanned: trust no feature */
} cache;

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);

    if (!p)
        sp_fatal(SP_EXIT_OSERR, "out of memory");
    return p;
}

static char *xstrdup(const char *s)
{
    char *p = strdup(s);

    if (!p)
        sp_fatal(SP_EXIT_OSERR, "out of memory");
    return p;
}

static void note_computed(const char *name, size_t len, void *ctx)
{
    char **grown;

    (void)ctx;
    grown = realloc(cache.computed, (size_t)(cache.ncomputed + 1) * sizeof(*grown));
    if (!grown)
        sp_fatal(SP_EXIT_OSERR, "out of memory");
    cache.computed = grown;
    cache.computed[cache.ncomputed] = strndup(name, len);
    if (!cache.computed[cache.ncomputed])
        sp_fatal(SP_EXIT_OSERR, "out of memory");
    cache.ncomputed++;
}

/* Scans one config file; a missing file is fine when optional. */
static void scan_config(const char *path, int optional)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    char *text;
    ssize_t n;

    if (fd < 0) {
        if (!(optional && errno == ENOENT))
            cache.all_computed = 1;
        return;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_CONFIG_BYTES) {
        cache.all_computed = 1;
        close(fd);
        return;
    }
    text = xcalloc((size_t)st.st_size + 1, 1);
    n = read(fd, text, (size_t)st.st_size);
    if (n != st.st_size)
        cache.all_computed = 1;
    else
        hwmon_config_computes(text, (size_t)n, note_computed, NULL);
    free(text);
    close(fd);
}

static void scan_default_configs(void)
{
    DIR *dir;
    struct dirent *ent;
    char path[4096];

    scan_config(DEFAULT_CONFIG, 1);
    scan_config(ALT_CONFIG, 1);
    if (!(dir = opendir(CONFIG_DIR))) {
        if (errno != ENOENT)
            cache.all_computed = 1;
        return;
    }
    while ((ent = readdir(dir))) {
        if (ent->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", CONFIG_DIR, ent->d_name);
        scan_config(path, 1);
    }
    closedir(dir);
}

static int computed(const sensors_subfeature *sub, const sensors_feature *feature)
{
    if (!(sub->flags & SENSORS_COMPUTE_MAPPING))
        return 0; /* libsensors applies no compute statement to it */
    if (cache.all_computed)
        return 1;
    for (int i = 0; i < cache.ncomputed; i++)
        if (strcmp(cache.computed[i], feature->name) == 0)
            return 1;
    return 0;
}

static int open_attribute(const sensors_chip_name *chip, const sensors_feature *feature,
                          const sensors_subfeature *sub)
{
    char path[4096];
    int fd;

    if (!(sub->flags & SENSORS_MODE_R) || computed(sub, feature) || cache.open_files >= HWMON_MAX_OPEN ||
        !chip->path || snprintf(path, sizeof(path), "%s/%s", chip->path, sub->name) >= (int)sizeof(path))
        return -1;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0)
        cache.open_files++;
    return fd;
}

static void build_feature(struct feature_entry *f, const sensors_chip_name *chip, const sensors_feature *feature)
{
    const sensors_subfeature *sub;
    char *label = sensors_get_label(chip, feature);
    int nr = 0;

    f->feature = feature;
    f->label = label ? label : xstrdup(feature->name);
    while (sensors_get_all_subfeatures(chip, feature, &nr))
        f->nsubs++;
    f->subs = xcalloc((size_t)f->nsubs, sizeof(*f->subs));
    nr = 0;
    for (int i = 0; i < f->nsubs && (sub = sensors_get_all_subfeatures(chip, feature, &nr)); i++)
        f->subs[i] = (struct sub_entry){sub, open_attribute(chip, feature, sub)};
}

static void build_chip(struct chip_entry *c, const sensors_chip_name *chip)
{
    const sensors_feature *feature;
    int nr = 0;

    c->chip = chip;
    while (sensors_get_features(chip, &nr))
        c->nfeatures++;
    c->features = xcalloc((size_t)c->nfeatures, sizeof(*c->features));
    nr = 0;
    for (int i = 0; i < c->nfeatures && (feature = sensors_get_features(chip, &nr)); i++)
        build_feature(&c->features[i], chip, feature);
}

void hwmon_cache_build(const char *config)
{
    const sensors_chip_name *chip;
    int nr = 0, n = 0;

    hwmon_cache_free();
    if (config)
        scan_config(config, 0);
    else
        scan_default_configs();
    while (sensors_get_detected_chips(NULL, &nr))
        n++;
    cache.chips = xcalloc((size_t)n, sizeof(*cache.chips));
    nr = 0;
    while ((chip = sensors_get_detected_chips(NULL, &nr)) && cache.nchips < n) {
        struct chip_entry *c = &cache.chips[cache.nchips];
        int len = sensors_snprintf_chip_name(c->name, sizeof(c->name), chip);

        if (len < 0 || len >= (int)sizeof(c->name))
            continue; /* a name libsensors cannot print cannot be asked for */
        build_chip(c, chip);
        cache.nchips++;
    }
}

void hwmon_cache_free(void)
{
    for (int i = 0; i < cache.nchips; i++) {
        struct chip_entry *c = &cache.chips[i];

        for (int j = 0; j < c->nfeatures; j++) {
            for (int k = 0; k < c->features[j].nsubs; k++)
                if (c->features[j].subs[k].fd >= 0)
                    close(c->features[j].subs[k].fd);
            free(c->features[j].subs);
            free(c->features[j].label);
        }
        free(c->features);
    }
    free(cache.chips);
    for (int i = 0; i < cache.ncomputed; i++)
        free(cache.computed[i]);
    free(cache.computed);
    memset(&cache, 0, sizeof(cache));
}

int hwmon_cache_open_files(void)
{
    return cache.open_files;
}

/* What sensors_get_value does for an attribute without a compute
 * statement (lib/sysfs.c, sensors_read_sysfs_attr), on a kept file:
 * fscanf's "%lf" is strtod, and text that is no number "cannot be read".
 * A failed read reports its errno (eio, or enodev once the device is gone
 * and no rescan has happened yet), where libsensors says eio or
 * "cannot read". */
static int read_kept(int fd, const sensors_subfeature *sub, double *value, int *saved_errno)
{
    char buf[128];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

    if (n < 0) {
        *saved_errno = errno;
        return -SENSORS_ERR_KERNEL;
    }
    return hwmon_value_parse(buf, (size_t)n, sub->type, value);
}

static void x_reading(ei_x_buff *x, const sensors_chip_name *chip, const struct sub_entry *s)
{
    double value = 0;
    int rc, saved_errno = 0;

    if (s->fd >= 0) {
        rc = read_kept(s->fd, s->sub, &value, &saved_errno);
    } else {
        errno = 0;
        rc = sensors_get_value(chip, s->sub->number, &value);
        saved_errno = errno;
    }
    hwmon_x_reading(x, rc, value, saved_errno);
}

static void x_subfeature(ei_x_buff *x, const struct sub_entry *s)
{
    const sensors_subfeature *sub = s->sub;
    sp_map m;

    sp_map_begin(&m, x);
    sp_map_str(&m, "name", sub->name);
    sp_map_atom(&m, "type", hwmon_subfeature_kind(sub->name, sub->type));
    sp_map_bool(&m, "readable", (sub->flags & SENSORS_MODE_R) != 0);
    sp_map_bool(&m, "writable", (sub->flags & SENSORS_MODE_W) != 0);
    sp_map_end(&m);
}

static void x_feature(ei_x_buff *x, const struct feature_entry *f)
{
    sp_map m;

    sp_map_begin(&m, x);
    sp_map_str(&m, "name", f->feature->name);
    sp_map_str(&m, "label", f->label);
    sp_map_atom(&m, "type", hwmon_feature_atom(f->feature->type));
    sp_map_key(&m, "subfeatures");
    if (f->nsubs > 0) {
        ei_x_encode_list_header(x, f->nsubs);
        for (int i = 0; i < f->nsubs; i++)
            x_subfeature(x, &f->subs[i]);
    }
    ei_x_encode_empty_list(x);
    sp_map_end(&m);
}

static void x_chip(ei_x_buff *x, const struct chip_entry *c)
{
    const sensors_chip_name *chip = c->chip;
    const char *adapter = sensors_get_adapter_name(&chip->bus);
    sp_map m;

    sp_map_begin(&m, x);
    sp_map_str(&m, "name", c->name);
    sp_map_str(&m, "prefix", chip->prefix);
    sp_map_atom(&m, "bus", hwmon_bus_atom(chip->bus.type));
    sp_map_int(&m, "bus_nr", chip->bus.nr);
    sp_map_int(&m, "address", chip->addr);
    if (adapter)
        sp_map_str(&m, "adapter", adapter);
    else
        sp_map_atom(&m, "adapter", "undefined");
    sp_map_str(&m, "path", chip->path ? chip->path : "");
    sp_map_key(&m, "features");
    if (c->nfeatures > 0) {
        ei_x_encode_list_header(x, c->nfeatures);
        for (int i = 0; i < c->nfeatures; i++)
            x_feature(x, &c->features[i]);
    }
    ei_x_encode_empty_list(x);
    sp_map_end(&m);
}

void hwmon_x_chips(ei_x_buff *x)
{
    if (cache.nchips > 0) {
        ei_x_encode_list_header(x, cache.nchips);
        for (int i = 0; i < cache.nchips; i++)
            x_chip(x, &cache.chips[i]);
    }
    ei_x_encode_empty_list(x);
}

static void x_chip_readings(ei_x_buff *x, const struct chip_entry *c)
{
    int n = 0;

    ei_x_encode_tuple_header(x, 2);
    sp_x_binary_str(x, c->name);
    for (int i = 0; i < c->nfeatures; i++)
        n += c->features[i].nsubs;
    if (n > 0) {
        ei_x_encode_list_header(x, n);
        for (int i = 0; i < c->nfeatures; i++)
            for (int j = 0; j < c->features[i].nsubs; j++)
                x_reading(x, c->chip, &c->features[i].subs[j]);
    }
    ei_x_encode_empty_list(x);
}

void hwmon_x_readings(ei_x_buff *x, const hwmon_name_list *only)
{
    int n = 0;

    for (int i = 0; i < cache.nchips; i++)
        n += !only || hwmon_names_contain(only, cache.chips[i].name);
    if (n > 0) {
        ei_x_encode_list_header(x, n);
        for (int i = 0; i < cache.nchips; i++)
            if (!only || hwmon_names_contain(only, cache.chips[i].name))
                x_chip_readings(x, &cache.chips[i]);
    }
    ei_x_encode_empty_list(x);
}

const sensors_chip_name *hwmon_find_chip(const char *name)
{
    for (int i = 0; i < cache.nchips; i++)
        if (strcmp(cache.chips[i].name, name) == 0)
            return cache.chips[i].chip;
    return NULL;
}

const sensors_subfeature *hwmon_find_subfeature(const sensors_chip_name *chip, const char *name)
{
    for (int i = 0; i < cache.nchips; i++) {
        const struct chip_entry *c = &cache.chips[i];

        if (c->chip != chip)
            continue;
        for (int j = 0; j < c->nfeatures; j++)
            for (int k = 0; k < c->features[j].nsubs; k++)
                if (strcmp(c->features[j].subs[k].sub->name, name) == 0)
                    return c->features[j].subs[k].sub;
    }
    return NULL;
}
