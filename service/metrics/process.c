/* Reads this process's resource use from /proc, as a scrape asks for it. */
#include "process.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Seconds since the epoch at which the machine booted ("btime" in /proc/stat). */
static double boot_time(void) {
  FILE *f = fopen("/proc/stat", "r");
  if (!f) return -1;
  char line[256];
  double btime = -1;
  while (fgets(line, sizeof line, f)) {
    long long v;
    if (sscanf(line, "btime %lld", &v) == 1) {
      btime = (double)v;
      break;
    }
  }
  fclose(f);
  return btime;
}

/* utime, stime and starttime from /proc/self/stat; the command name may hold spaces and
 * parentheses, so fields are counted from the last ')'. */
static bool read_stat(tm_process_stats *out) {
  FILE *f = fopen("/proc/self/stat", "r");
  if (!f) return false;
  char buf[1024];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *p = strrchr(buf, ')');
  if (!p) return false;
  unsigned long long utime, stime, start;
  /* After ')': state (3) ... utime is field 14, stime 15, starttime 22. */
  if (sscanf(p + 1,
             " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %llu",
             &utime, &stime, &start) != 3) {
    return false;
  }
  long hz = sysconf(_SC_CLK_TCK);
  if (hz <= 0) return false;
  out->cpu_seconds = (double)(utime + stime) / (double)hz;
  double boot = boot_time();
  if (boot >= 0) out->start_time_seconds = boot + (double)start / (double)hz;
  return true;
}

static void read_statm(tm_process_stats *out) {
  FILE *f = fopen("/proc/self/statm", "r");
  if (!f) return;
  long long size, resident;
  long page = sysconf(_SC_PAGESIZE);
  if (fscanf(f, "%lld %lld", &size, &resident) == 2 && page > 0) {
    out->virtual_bytes = size * page;
    out->resident_bytes = resident * page;
  }
  fclose(f);
}

static int64_t count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return -1;
  int64_t n = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] != '.') n++;
  }
  closedir(d);
  return n - 1; /* the directory stream's own descriptor */
}

bool tm_process_sample(tm_process_stats *out) {
  *out = (tm_process_stats){-1, -1, -1, -1, -1, -1};
  bool ok = read_stat(out);
  read_statm(out);
  out->open_fds = count_fds();
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
    out->max_fds = (int64_t)rl.rlim_cur;
  }
  return ok || out->resident_bytes >= 0 || out->open_fds >= 0;
}
