/* Preloaded before libfaketime on the bed's skewed-clock host: sleeps go straight to the kernel.
 *
 * libfaketime 0.9.10 (Debian) with FAKETIME_DONT_FAKE_MONOTONIC=1 still rewrites the absolute
 * CLOCK_MONOTONIC deadline that Python's time.sleep passes to clock_nanosleep, which then fails
 * with EINVAL; faking the monotonic clock instead makes threading waits hang. A sleep is a
 * duration, so passing it through unchanged keeps the wall clock skewed and sleeps exact.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int clock_nanosleep(clockid_t clock, int flags, const struct timespec *req, struct timespec *rem) {
    /* the glibc function returns the error number itself, not -1 */
    return syscall(SYS_clock_nanosleep, clock, flags, req, rem) == -1 ? errno : 0;
}

int nanosleep(const struct timespec *req, struct timespec *rem) {
    return (int)syscall(SYS_nanosleep, req, rem);
}
