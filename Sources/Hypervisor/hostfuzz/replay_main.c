/* The replay runner (no libFuzzer): runs every file given, each in its own child process so one
 * failure does not hide the next, and exits non-zero if any file produced a sanitizer report or
 * an invariant failure. Same harness and model as the fuzzer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static int run_one(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return 2;
	}
	static unsigned char buf[1 << 20];
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	/* HOSTFUZZ_REPEAT=n: run the input n times in this process (timing) */
	const char *rep = getenv("HOSTFUZZ_REPEAT");
	long times = rep ? atol(rep) : 1;
	for (long i = 0; i < (times > 0 ? times : 1); i++)
		LLVMFuzzerTestOneInput(buf, n);
	return 0;
}

int main(int argc, char **argv)
{
	int failed = 0, total = 0;
	LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		total++;
		fflush(stderr);
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			return 2;
		}
		if (pid == 0)
			_exit(run_one(argv[i]));
		int st = 0;
		waitpid(pid, &st, 0);
		int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
		if (!ok) {
			failed++;
			if (WIFSIGNALED(st))
				fprintf(stderr, "hostfuzz-replay: FAIL %s (signal %d)\n", argv[i], WTERMSIG(st));
			else
				fprintf(stderr, "hostfuzz-replay: FAIL %s (exit %d)\n", argv[i], WEXITSTATUS(st));
		} else if (getenv("HOSTFUZZ_VERBOSE"))
			fprintf(stderr, "hostfuzz-replay: ok   %s\n", argv[i]);
	}
	fprintf(stderr, "hostfuzz-replay: %d inputs, %d passed, %d failed\n", total, total - failed, failed);
	return failed ? 1 : 0;
}
