/*
 * kpi.c - what an AGW reports about itself every checkin.  Host numbers
 * come from the kernel; radio numbers exist only on a real eNodeB, so
 * --sim-kpis makes some up for demos, and says so in their names' absence
 * otherwise (nothing is reported that is not measured).
 */
#include "agent.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool read_double(const char *path, double *out)
{
	FILE *f = fopen(path, "re");
	bool ok;

	if (!f)
		return false;
	ok = fscanf(f, "%lf", out) == 1;
	fclose(f);
	return ok;
}

/* MemAvailable and MemTotal from /proc/meminfo, in MiB. */
static bool meminfo(double *avail, double *total)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	int found = 0;

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f) && found < 2) {
		unsigned long long kb;

		if (sscanf(line, "MemTotal: %llu kB", &kb) == 1) {
			*total = (double)kb / 1024.0;
			found++;
		} else if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) {
			*avail = (double)kb / 1024.0;
			found++;
		}
	}
	fclose(f);
	return found == 2;
}

static double jitter(unsigned *seed, double base, double spread)
{
	return base + spread * ((double)rand_r(seed) / RAND_MAX - 0.5);
}

size_t agent_kpis(struct o8_wire_kpi *out, size_t max, bool sim,
		  unsigned *seed)
{
	double v, avail = 0, total = 0, load[3];
	size_t n = 0;

#define ADD(k, val) do { if (n < max) out[n++] = (struct o8_wire_kpi){ (k), (val) }; } while (0)
	if (read_double("/proc/uptime", &v))
		ADD("uptime_s", v);
	if (getloadavg(load, 3) == 3)
		ADD("load1", load[0]);
	if (meminfo(&avail, &total)) {
		ADD("mem_available_mb", avail);
		ADD("mem_total_mb", total);
	}
	if (sim) {
		ADD("sim_enodebs_connected", 2);
		ADD("sim_ues_attached", (double)(40 + rand_r(seed) % 20));
		ADD("sim_dl_mbps", jitter(seed, 120.0, 40.0));
		ADD("sim_ul_mbps", jitter(seed, 30.0, 10.0));
	}
#undef ADD
	return n;
}
