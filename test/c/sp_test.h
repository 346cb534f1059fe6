/* A minimal assertion kit for the C unit tests: each failed CHECK prints
 * where and why; the test exits non-zero if any failed. */
#ifndef SP_TEST_H
#define SP_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int sp_test_failures;
static int sp_test_checks;

#define CHECK(cond)                                                                     \
    do {                                                                                \
        sp_test_checks++;                                                               \
        if (!(cond)) {                                                                  \
            sp_test_failures++;                                                         \
            fprintf(stderr, "%s:%d: %s: CHECK(%s) failed\n", __FILE__, __LINE__,        \
                    __func__, #cond);                                                   \
        }                                                                               \
    } while (0)

#define CHECK_EQ(a, b)                                                                  \
    do {                                                                                \
        long long sp_a_ = (long long)(a), sp_b_ = (long long)(b);                       \
        sp_test_checks++;                                                               \
        if (sp_a_ != sp_b_) {                                                           \
            sp_test_failures++;                                                         \
            fprintf(stderr, "%s:%d: %s: %s == %lld, expected %s == %lld\n", __FILE__,   \
                    __LINE__, __func__, #a, sp_a_, #b, sp_b_);                          \
        }                                                                               \
    } while (0)

#define CHECK_MEM(p, q, n) CHECK(memcmp((p), (q), (n)) == 0)

#define RUN(test)                                                                       \
    do {                                                                                \
        int before_ = sp_test_failures;                                                 \
        test();                                                                         \
        printf("%-48s %s\n", #test, sp_test_failures == before_ ? "ok" : "FAILED");     \
    } while (0)

static inline int sp_test_report(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, sp_test_checks, sp_test_failures);
    return sp_test_failures ? 1 : 0;
}

#endif
