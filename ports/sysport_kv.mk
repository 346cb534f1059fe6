LDLIBS_kv := -Wl,-Bstatic -lz -Wl,-Bdynamic
