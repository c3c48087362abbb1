// SPDX-License-Identifier: GPL-2.0-only
// leverwork: a fixed-work GPU load for the compute-lever study.
//
// Each kernel does a fixed amount of arithmetic on every SM (its duration
// grows when the process gets less GPU time, unlike a clock-spin kernel), and
// its last block writes %globaltimer at the end.  Completion times are written
// to --out (one line per kernel: end time in ns of CLOCK_REALTIME, corrected by
// a measured globaltimer offset).
//
// Modes:  full   keep --depth kernels in flight (never synchronize the device)
//         bursty --burst kernels, stream sync, sleep --sleep-ms, repeat
// Start:  prints READY after init (and after nvlever_apply() if preloaded),
//         then reads the start time (CLOCK_REALTIME ns) from stdin, or starts
//         at once with --now. Runs --duration-ms.
#include <cuda_runtime.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <vector>

#define CK(x) do { cudaError_t e_ = (x); if (e_ != cudaSuccess) { fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); exit(1); } } while (0)

__device__ __forceinline__ unsigned long long gtimer()
{
	unsigned long long t;
	asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
	return t;
}

__global__ void work(int iters, unsigned long long *end, unsigned int *done, int idx, float *sink)
{
	float x = threadIdx.x * 1e-3f, y = 1.0f, z = 0.5f, w = 0.25f;
	for (int i = 0; i < iters; i++) {
		x = fmaf(x, 0.9999f, y);
		y = fmaf(y, 0.9998f, z);
		z = fmaf(z, 0.9997f, w);
		w = fmaf(w, 0.9996f, x);
	}
	if (x + y + z + w == 123.456f)
		sink[0] = x;
	__syncthreads();
	if (threadIdx.x == 0) {
		__threadfence();
		unsigned prev = atomicAdd(&done[idx], 1u);
		if (prev == gridDim.x - 1)
			end[idx] = gtimer();
	}
}

__global__ void stamp(unsigned long long *t) { *t = gtimer(); }

static unsigned long long rt_ns()
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	int iters = 20000, depth = 4, burst = 4, sleep_ms = 0, duration_ms = 2000, max_k = 200000, threads = 256;
	int bpsm = 8, calibrate = 0, now = 0;
	const char *mode = "full", *out = NULL, *tag = "";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : "0";
		if (!strcmp(a, "--iters")) iters = atoi(v), i++;
		else if (!strcmp(a, "--depth")) depth = atoi(v), i++;
		else if (!strcmp(a, "--burst")) burst = atoi(v), i++;
		else if (!strcmp(a, "--sleep-ms")) sleep_ms = atoi(v), i++;
		else if (!strcmp(a, "--duration-ms")) duration_ms = atoi(v), i++;
		else if (!strcmp(a, "--mode")) mode = v, i++;
		else if (!strcmp(a, "--out")) out = v, i++;
		else if (!strcmp(a, "--tag")) tag = v, i++;
		else if (!strcmp(a, "--blocks-per-sm")) bpsm = atoi(v), i++;
		else if (!strcmp(a, "--calibrate")) calibrate = atoi(v), i++;
		else if (!strcmp(a, "--now")) now = 1;
		else { fprintf(stderr, "unknown arg %s\n", a); return 2; }
	}
	cudaDeviceProp prop;
	CK(cudaGetDeviceProperties(&prop, 0));
	int blocks = prop.multiProcessorCount * bpsm;
	unsigned long long *d_end, *d_t;
	unsigned int *d_done;
	float *d_sink;
	CK(cudaMalloc(&d_end, sizeof(unsigned long long) * max_k));
	CK(cudaMalloc(&d_done, sizeof(unsigned int) * max_k));
	CK(cudaMalloc(&d_sink, 64));
	CK(cudaMalloc(&d_t, 8));
	CK(cudaMemset(d_end, 0, sizeof(unsigned long long) * max_k));
	CK(cudaMemset(d_done, 0, sizeof(unsigned int) * max_k));
	cudaStream_t s;
	CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));

	if (calibrate > 0) {
		// find iters so that one kernel takes `calibrate` us alone
		cudaEvent_t a, b;
		CK(cudaEventCreate(&a));
		CK(cudaEventCreate(&b));
		int it = 2000;
		for (int r = 0; r < 6; r++) {
			work<<<blocks, threads, 0, s>>>(it, d_end, d_done, 0, d_sink);
			CK(cudaEventRecord(a, s));
			for (int k = 0; k < 5; k++)
				work<<<blocks, threads, 0, s>>>(it, d_end, d_done, 0, d_sink);
			CK(cudaEventRecord(b, s));
			CK(cudaEventSynchronize(b));
			float ms;
			CK(cudaEventElapsedTime(&ms, a, b));
			double us = ms * 1000.0 / 5;
			int nit = (int)((double)it * calibrate / us); // double: it*calibrate overflows int for long kernels
			fprintf(stderr, "calibrate iters=%d us=%.1f -> %d\n", it, us, nit);
			it = nit;
		}
		printf("%d\n", it);
		return 0;
	}

	// globaltimer - CLOCK_REALTIME offset, best of 20
	long long best_off = 0;
	unsigned long long best_rtt = ~0ull;
	for (int r = 0; r < 20; r++) {
		unsigned long long h0 = rt_ns();
		stamp<<<1, 1, 0, s>>>(d_t);
		CK(cudaStreamSynchronize(s));
		unsigned long long h1 = rt_ns(), g;
		CK(cudaMemcpy(&g, d_t, 8, cudaMemcpyDeviceToHost));
		if (h1 - h0 < best_rtt) {
			best_rtt = h1 - h0;
			best_off = (long long)g - (long long)((h0 + h1) / 2);
		}
	}
	// warm-up
	work<<<blocks, threads, 0, s>>>(iters / 10 + 1, d_end, d_done, 0, d_sink);
	CK(cudaStreamSynchronize(s));
	CK(cudaMemset(d_done, 0, sizeof(unsigned int) * max_k));

	void (*apply)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "nvlever_apply");
	void (*stop)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "nvlever_stop");
	unsigned long long start;
	if (now) {
		if (apply)
			apply();
		start = rt_ns();
	} else {
		printf("READY %d\n", getpid());
		fflush(stdout);
		if (scanf("%llu", &start) != 1)
			return 3;
		if (apply)
			apply();
		while (rt_ns() < start)
			;
	}
	std::vector<cudaEvent_t> ev(depth > 0 ? depth : 1);
	for (auto &e : ev)
		CK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
	std::vector<unsigned long long> launch_t;
	launch_t.reserve(max_k);
	unsigned long long stop_at = start + (unsigned long long)duration_ms * 1000000ull;
	int n = 0;
	bool full = !strcmp(mode, "full");
	while (n < max_k && rt_ns() < stop_at) {
		if (full) {
			if (n >= depth)
				CK(cudaEventSynchronize(ev[n % depth]));
			launch_t.push_back(rt_ns());
			work<<<blocks, threads, 0, s>>>(iters, d_end, d_done, n, d_sink);
			CK(cudaGetLastError());
			CK(cudaEventRecord(ev[n % depth], s));
			n++;
		} else {
			for (int b = 0; b < burst && n < max_k; b++, n++) {
				launch_t.push_back(rt_ns());
				work<<<blocks, threads, 0, s>>>(iters, d_end, d_done, n, d_sink);
			}
			CK(cudaStreamSynchronize(s));
			if (sleep_ms)
				usleep(sleep_ms * 1000);
		}
	}
	unsigned long long last_launch = rt_ns();
	CK(cudaStreamSynchronize(s));
	if (stop)
		stop();
	std::vector<unsigned long long> end(n);
	CK(cudaMemcpy(end.data(), d_end, sizeof(unsigned long long) * n, cudaMemcpyDeviceToHost));
	FILE *f = out ? fopen(out, "w") : NULL;
	if (f) {
		fprintf(f, "# tag=%s pid=%d iters=%d blocks=%d depth=%d mode=%s start=%llu offset_ns=%lld rtt_ns=%llu\n",
			tag, getpid(), iters, blocks, depth, mode, start, best_off, best_rtt);
		for (int i = 0; i < n; i++)
			fprintf(f, "%lld %lld\n", (long long)(launch_t[i] - start),
				(long long)(end[i] - best_off) - (long long)start);
		fclose(f);
	}
	printf("DONE %d tag=%s kernels=%d last_launch_ms=%.1f\n", getpid(), tag, n, (last_launch - start) / 1e6);
	return 0;
}
