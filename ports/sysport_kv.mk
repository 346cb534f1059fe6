LDLIBS_kv := -lz
