/*
 * The Linux oracle: runs an mmlab script (shared/DESIGN.md §4, "Script
 * language") on the kernel of this machine and prints what the kernel did,
 * in the script language's output format. `mmlab diff` compares the model
 * with it; src/oracle/linux.ts compiles and runs it.
 *
 * Input: the script on stdin. Output: one line per command, then the maps
 * of every live process, on stdout; exit status 0. A script that does not
 * parse runs nothing: one line `line N: problem` on stderr, exit status 2.
 * A failure of the oracle itself: a line on stderr, exit status 1.
 *
 * Processes. The original process is the coordinator and runs no script
 * command. It parses the whole script, creates the files, prepares the
 * window, then forks p0 and hands each command, in script order, to the
 * process that runs it, printing the result that process sends back. A
 * script `fork` is a real fork() by the script process, so the child
 * inherits its address space exactly as the kernel copies it.
 *
 * Each script process talks to the coordinator over its own socket pair.
 * The coordinator creates the pair of a child-to-be and passes the child's
 * end along with the `fork` request (SCM_RIGHTS); the parent closes it after
 * fork(), the child closes its parent's. So each channel is held by exactly
 * two processes and end-of-file on it means the other one is gone:
 *  - a script process whose coordinator died reads EOF and exits;
 *  - the coordinator learns that a script `exit` is complete when it reads
 *    EOF: do_exit() releases the address space (exit_mm) before it closes
 *    the files (exit_files), so the exited process no longer shares pages
 *    or anon_vmas when the next command runs.
 * PR_SET_PDEATHSIG would not do: it fires when the *parent* dies, and the
 * parent of p1 is p0, which a script may end first.
 * No zombies: script processes ignore SIGCHLD, so the kernel reaps their
 * children; the coordinator is a child subreaper, so orphans become its
 * children, and it reaps them all before it exits.
 *
 * The window (DESIGN.md §4). Scripts see a 1 GiB window; placement without a
 * fixed address must behave as if the window's top were the top of the mmap
 * area with free space below. The coordinator chooses the window in the big
 * free gap below the shared libraries and fills all free space between the
 * window's top and the kernel's mmap_base with inaccessible placeholders, so
 * that the kernel's top-down search (arch_get_unmapped_area_topdown) starts
 * at the window's top. The placeholders are MAP_NORESERVE so that they never
 * merge with a script's PROT_NONE anonymous mapping at the window's top:
 * VM_NORESERVE makes their flags differ. (vm.overcommit_memory=2 ignores
 * MAP_NORESERVE; the listing still shows only the part inside the window.)
 * Script processes must not map anything themselves once the window exists,
 * so they never allocate: no malloc, no FILE streams; they format into
 * static or stack buffers and read /proc/self/maps with read(2).
 *
 * The heap. In a script that uses brk, p0's program break is moved into the
 * window at HEAP_START before its first command (move_heap()); fork
 * children inherit it, as they inherit everything of the mm.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * The placement rules the scripts rely on (top-down search, THP alignment
 * of anonymous memory) are x86-64's, and so is the guarantee that a 32-bit
 * store straddling two pages either completes or stores nothing.
 */
#if !defined(__x86_64__)
#error "the Linux oracle runs on x86-64 only"
#endif

#define PAGE 4096UL
#define WINDOW_SIZE 0x40000000UL
#define PMD_SIZE (2UL << 20)
/* The initial program break (mm->start_brk and mm->brk), as src/script/ast.ts says. */
#define HEAP_START 0x1000000UL
/* Limits of the script language, as in src/script/parse.ts. */
#define MAX_PAGES (1U << 20)
#define MAX_FILES 15
#define MAX_FILE_PAGES 4096U
#define MAX_NAME 32
#define MAX_WORDS 16

/* ---------------------------------------------------------------- */
/* Failure */

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/*
 * A failure of the oracle itself. Script processes must not allocate (see
 * above), so the message goes out with one write(2); _exit() because a
 * forked process must not flush the coordinator's stdio buffers again.
 */
static void die(const char *fmt, ...)
{
	static const char prefix[] = "linux oracle: ";
	char msg[512];
	va_list ap;

	memcpy(msg, prefix, sizeof prefix - 1);
	va_start(ap, fmt);
	int n = vsnprintf(msg + sizeof prefix - 1, sizeof msg - sizeof prefix, fmt, ap);
	va_end(ap);
	size_t len = sizeof prefix - 1 + (n < 0 ? 0 : (size_t)n);
	if (len > sizeof msg - 1)
		len = sizeof msg - 1;
	msg[len++] = '\n';
	/* If stderr fails too, nobody is left to tell. */
	(void)!write(STDERR_FILENO, msg, len);
	_exit(1);
}

/* ---------------------------------------------------------------- */
/* The script */

enum op { OP_FILE, OP_MMAP, OP_MUNMAP, OP_MPROTECT, OP_MREMAP, OP_MADVISE, OP_BRK, OP_WRITE, OP_READ, OP_FORK, OP_EXIT, OP_MAPS };

struct command {
	enum op op;
	unsigned int line;	/* 1-based line in the script, for messages */
	unsigned int pid;	/* the script process (pN) that runs it */
	bool has_addr;		/* mmap: false for `-` */
	uint32_t addr;		/* window offset: ADDR, the mmap hint, or the new break */
	uint32_t pages;		/* PAGES, or mremap's OLDPAGES */
	uint32_t new_pages;	/* mremap: NEWPAGES */
	int prot;		/* PROT_* */
	int flags;		/* mmap: MAP_*; mremap: MREMAP_*; madvise: MADV_* */
	int file;		/* mmap: index into files[]; -1: anonymous memory */
	uint32_t off;		/* mmap: off=PAGES */
	uint32_t target;	/* mremap: fixed=ADDR, valid with MREMAP_FIXED */
	uint32_t value;		/* write: VALUE */
	unsigned int child;	/* fork: the new process's number */
};

struct script_file {
	char name[MAX_NAME + 1];
	uint32_t pages;
	bool secret;		/* memfd_secret(2)'s, zero-filled; else a tmpfs file with its pattern */
	int fd;			/* opened once; every mapping uses it */
	dev_t dev;		/* to recognise its mappings in /proc/self/maps */
	ino_t ino;
};

static struct command *commands;
static size_t ncommands;
static struct script_file files[MAX_FILES];
static unsigned int nfiles;
static unsigned int nprocs;	/* p0 .. p(nprocs-1) exist at some point */
static bool uses_brk;		/* some command is brk: p0's heap must be in the window */

static void bad_script(unsigned int line, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));

static void bad_script(unsigned int line, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "line %u: ", line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static bool all_of(const char *s, const char *set)
{
	return s[strspn(s, set)] == '\0';
}

#define DIGITS "0123456789"
#define HEX_DIGITS "0123456789abcdefABCDEF"

/* ADDR: a hex byte offset, with or without 0x, at most 8 digits. */
static uint32_t parse_addr(const char *tok, unsigned int line, const char *what)
{
	const char *digits = strncmp(tok, "0x", 2) == 0 ? tok + 2 : tok;
	size_t n = strlen(digits);
	if (n < 1 || n > 8 || !all_of(digits, HEX_DIGITS))
		bad_script(line, "%s must be a hex byte offset, not '%s'", what, tok);
	return (uint32_t)strtoul(digits, NULL, 16);
}

/* PAGES: decimal, at most 8 digits and MAX_PAGES. */
static uint32_t parse_pages(const char *tok, unsigned int line, const char *what)
{
	size_t n = strlen(tok);
	if (n < 1 || n > 8 || !all_of(tok, DIGITS))
		bad_script(line, "%s must be a decimal number of pages, not '%s'", what, tok);
	unsigned long pages = strtoul(tok, NULL, 10);
	if (pages > MAX_PAGES)
		bad_script(line, "%s %lu is larger than %u", what, pages, MAX_PAGES);
	return (uint32_t)pages;
}

/* VALUE: 32 bits, hex with 0x or decimal. */
static uint32_t parse_value(const char *tok, unsigned int line)
{
	size_t n = strlen(tok);
	if (strncmp(tok, "0x", 2) == 0 && n >= 3 && n <= 10 && all_of(tok + 2, HEX_DIGITS))
		return (uint32_t)strtoul(tok + 2, NULL, 16);
	if (n >= 1 && n <= 10 && all_of(tok, DIGITS)) {
		unsigned long long v = strtoull(tok, NULL, 10);
		if (v <= UINT32_MAX)
			return (uint32_t)v;
	}
	bad_script(line, "VALUE must be 32 bits, hex with 0x or decimal, not '%s'", tok);
}

/* PROT: three characters from r-, w-, x-. */
static int parse_prot(const char *tok, unsigned int line)
{
	if (strlen(tok) != 3 || !strchr("r-", tok[0]) || !strchr("w-", tok[1]) || !strchr("x-", tok[2]))
		bad_script(line, "PROT must be three characters from r-, w-, x- (like rw-), not '%s'", tok);
	return (tok[0] == 'r' ? PROT_READ : 0) | (tok[1] == 'w' ? PROT_WRITE : 0) | (tok[2] == 'x' ? PROT_EXEC : 0);
}

static int find_file(const char *name)
{
	for (unsigned int k = 0; k < nfiles; k++)
		if (strcmp(files[k].name, name) == 0)
			return (int)k;
	return -1;
}

static void arity(int nargs, int want, const char *usage, unsigned int line)
{
	if (nargs != want)
		bad_script(line, "usage: %s", usage);
}

/* mmap ADDR|- PAGES PROT FLAGS... */
static void parse_mmap(struct command *c, char **args, int nargs)
{
	enum { PRIVATE = 1, SHARED = 2, ANON = 4, FILE_ = 8, OFF = 16, FIXED = 32, NOREPLACE = 64, POPULATE = 128, GROWSDOWN = 256 };
	static const struct { const char *word; unsigned int bit, excludes; int map_flag; } words[] = {
		{ "private", PRIVATE, SHARED, MAP_PRIVATE },
		{ "shared", SHARED, PRIVATE, MAP_SHARED },
		{ "anon", ANON, FILE_, MAP_ANONYMOUS },
		{ "fixed", FIXED, 0, MAP_FIXED },
		{ "noreplace", NOREPLACE, 0, MAP_FIXED_NOREPLACE },
		{ "populate", POPULATE, 0, MAP_POPULATE },
		{ "growsdown", GROWSDOWN, 0, MAP_GROWSDOWN },
	};
	unsigned int line = c->line;
	unsigned int seen = 0;

	if (nargs < 4)
		bad_script(line, "usage: mmap ADDR|- PAGES PROT private|shared anon|file=NAME [off=PAGES] [fixed] [noreplace] [populate] [growsdown]");
	c->has_addr = strcmp(args[0], "-") != 0;
	if (c->has_addr)
		c->addr = parse_addr(args[0], line, "ADDR");
	c->file = -1;
	for (int i = 3; i < nargs; i++) {
		const char *f = args[i];
		unsigned int bit = 0, excludes = 0;
		int map_flag = 0;
		if (strncmp(f, "file=", 5) == 0) {
			bit = FILE_;
			excludes = ANON;
		} else if (strncmp(f, "off=", 4) == 0) {
			bit = OFF;
		} else {
			for (size_t w = 0; w < sizeof words / sizeof words[0]; w++)
				if (strcmp(f, words[w].word) == 0) {
					bit = words[w].bit;
					excludes = words[w].excludes;
					map_flag = words[w].map_flag;
				}
			if (!bit)
				bad_script(line, "unknown mmap flag '%s'", f);
		}
		if (seen & (bit | excludes))
			bad_script(line, "mmap flag '%s' repeats or contradicts an earlier one", f);
		seen |= bit;
		c->flags |= map_flag;
		if (bit == FILE_) {
			c->file = find_file(f + 5);
			if (c->file < 0)
				bad_script(line, "file %s is not declared (file NAME PAGES comes first)", f + 5);
		} else if (bit == OFF) {
			c->off = parse_pages(f + 4, line, "off=PAGES");
		}
	}
	if (!(seen & (PRIVATE | SHARED)))
		bad_script(line, "mmap needs one of private or shared");
	if (!(seen & (ANON | FILE_)))
		bad_script(line, "mmap needs one of anon or file=NAME");
	if ((seen & OFF) && !(seen & FILE_))
		bad_script(line, "off=PAGES needs file=NAME");
	if ((seen & (FIXED | NOREPLACE)) && !c->has_addr)
		bad_script(line, "%s needs an ADDR, not -", seen & FIXED ? "fixed" : "noreplace");
	c->pages = parse_pages(args[1], line, "PAGES");
	c->prot = parse_prot(args[2], line);
}

/* mremap ADDR OLDPAGES NEWPAGES [maymove] [dontunmap] [fixed=ADDR] */
static void parse_mremap(struct command *c, char **args, int nargs)
{
	unsigned int line = c->line;
	if (nargs < 3 || nargs > 6)
		bad_script(line, "usage: mremap ADDR OLDPAGES NEWPAGES [maymove] [dontunmap] [fixed=ADDR]");
	for (int i = 3; i < nargs; i++) {
		const char *f = args[i];
		if (strcmp(f, "maymove") == 0 && !(c->flags & MREMAP_MAYMOVE)) {
			c->flags |= MREMAP_MAYMOVE;
		} else if (strcmp(f, "dontunmap") == 0 && !(c->flags & MREMAP_DONTUNMAP)) {
			c->flags |= MREMAP_DONTUNMAP;
		} else if (strncmp(f, "fixed=", 6) == 0 && !(c->flags & MREMAP_FIXED)) {
			c->flags |= MREMAP_FIXED;
			c->target = parse_addr(f + 6, line, "fixed=ADDR");
		} else {
			bad_script(line, "unknown or repeated mremap flag '%s'", f);
		}
	}
	c->addr = parse_addr(args[0], line, "ADDR");
	c->pages = parse_pages(args[1], line, "OLDPAGES");
	c->new_pages = parse_pages(args[2], line, "NEWPAGES");
}

static void parse_command(struct command *c, const char *op, char **args, int nargs)
{
	unsigned int line = c->line;
	if (strcmp(op, "file") == 0) {
		if (nargs != 2 && (nargs != 3 || strcmp(args[2], "secret") != 0))
			bad_script(line, "usage: file NAME PAGES [secret]");
		size_t len = strlen(args[0]);
		if (len < 1 || len > MAX_NAME || !all_of(args[0], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" DIGITS "_"))
			bad_script(line, "file NAME must be 1 to %d of [A-Za-z0-9_], not '%s'", MAX_NAME, args[0]);
		if (find_file(args[0]) >= 0)
			bad_script(line, "file %s is declared twice", args[0]);
		if (nfiles >= MAX_FILES)
			bad_script(line, "at most %d files", MAX_FILES);
		uint32_t pages = parse_pages(args[1], line, "PAGES");
		if (pages > MAX_FILE_PAGES)
			bad_script(line, "a file has at most %u pages, not %u", MAX_FILE_PAGES, pages);
		c->op = OP_FILE;
		c->file = (int)nfiles;
		c->pages = pages;
		strcpy(files[nfiles].name, args[0]);
		files[nfiles].secret = nargs == 3;
		files[nfiles++].pages = pages;
	} else if (strcmp(op, "mmap") == 0) {
		c->op = OP_MMAP;
		parse_mmap(c, args, nargs);
	} else if (strcmp(op, "munmap") == 0) {
		arity(nargs, 2, "munmap ADDR PAGES", line);
		c->op = OP_MUNMAP;
		c->addr = parse_addr(args[0], line, "ADDR");
		c->pages = parse_pages(args[1], line, "PAGES");
	} else if (strcmp(op, "mprotect") == 0) {
		arity(nargs, 3, "mprotect ADDR PAGES PROT", line);
		c->op = OP_MPROTECT;
		c->addr = parse_addr(args[0], line, "ADDR");
		c->pages = parse_pages(args[1], line, "PAGES");
		c->prot = parse_prot(args[2], line);
	} else if (strcmp(op, "mremap") == 0) {
		c->op = OP_MREMAP;
		parse_mremap(c, args, nargs);
	} else if (strcmp(op, "madvise") == 0) {
		arity(nargs, 3, "madvise ADDR PAGES dontneed", line);
		if (strcmp(args[2], "dontneed") != 0)
			bad_script(line, "madvise supports only dontneed, not '%s'", args[2]);
		c->op = OP_MADVISE;
		c->addr = parse_addr(args[0], line, "ADDR");
		c->pages = parse_pages(args[1], line, "PAGES");
		c->flags = MADV_DONTNEED;
	} else if (strcmp(op, "brk") == 0) {
		arity(nargs, 1, "brk ADDR", line);
		c->op = OP_BRK;
		c->addr = parse_addr(args[0], line, "ADDR");
		uses_brk = true;
	} else if (strcmp(op, "write") == 0) {
		arity(nargs, 2, "write ADDR VALUE", line);
		c->op = OP_WRITE;
		c->addr = parse_addr(args[0], line, "ADDR");
		c->value = parse_value(args[1], line);
	} else if (strcmp(op, "read") == 0) {
		arity(nargs, 1, "read ADDR", line);
		c->op = OP_READ;
		c->addr = parse_addr(args[0], line, "ADDR");
	} else if (strcmp(op, "fork") == 0 || strcmp(op, "exit") == 0) {
		arity(nargs, 0, op, line);
		c->op = op[0] == 'f' ? OP_FORK : OP_EXIT;
	} else if (strcmp(op, "maps") == 0) {
		arity(nargs, 0, op, line);
		c->op = OP_MAPS;
	} else {
		bad_script(line, "unknown command '%s'", op);
	}
}

static void *grow(void *array, size_t *capacity, size_t size)
{
	*capacity = *capacity ? 2 * *capacity : 64;
	array = realloc(array, *capacity * size);
	if (!array)
		die("out of memory");
	return array;
}

/*
 * Parse the whole script (the text is cut up in place). Like parse.ts, this
 * checks every process reference too: fork numbering is deterministic (the
 * child is the next unused number), so a script names only live processes.
 */
static void parse_script(char *text, size_t size)
{
	bool *live = NULL;
	size_t live_capacity = 0, command_capacity = 0;
	char *next;
	unsigned int line = 0;

	live = grow(live, &live_capacity, sizeof *live);
	live[0] = true;
	nprocs = 1;
	for (char *s = text; s < text + size; s = next) {
		char *end = memchr(s, '\n', (size_t)(text + size - s));
		next = end ? end + 1 : text + size;
		if (!end)
			end = text + size;
		line++;
		if (memchr(s, '\0', (size_t)(end - s)))
			bad_script(line, "NUL byte");
		*end = '\0';
		char *hash = strchr(s, '#');
		if (hash)
			*hash = '\0';

		char *words[MAX_WORDS];
		int nwords = 0;
		for (char *w = strtok(s, " \t\r\v\f"); w; w = strtok(NULL, " \t\r\v\f")) {
			if (nwords == MAX_WORDS)
				bad_script(line, "too many words");
			words[nwords++] = w;
		}
		if (nwords == 0)
			continue;

		unsigned int pid = 0;
		int first = 0;
		size_t plen = strlen(words[0]);
		if (words[0][0] == 'p' && plen >= 2 && plen <= 5 && all_of(words[0] + 1, DIGITS)) {
			pid = (unsigned int)strtoul(words[0] + 1, NULL, 10);
			if (nwords == 1)
				bad_script(line, "p%u needs a command", pid);
			first = 1;
		}
		if (pid >= nprocs || !live[pid]) {
			if (pid < nprocs)
				bad_script(line, "p%u has exited", pid);
			bad_script(line, "p%u does not exist (the next fork creates p%u)", pid, nprocs);
		}

		if (ncommands == command_capacity)
			commands = grow(commands, &command_capacity, sizeof *commands);
		struct command *c = &commands[ncommands++];
		*c = (struct command){ .line = line, .pid = pid };
		parse_command(c, words[first], words + first + 1, nwords - first - 1);
		if (c->op == OP_FORK) {
			if (nprocs == live_capacity)
				live = grow(live, &live_capacity, sizeof *live);
			c->child = nprocs;
			live[nprocs++] = true;
		} else if (c->op == OP_EXIT) {
			live[pid] = false;
		}
	}
	free(live);
}

/* ---------------------------------------------------------------- */
/* Files */

/*
 * The k-th declared file (k = 1, 2, ...) holds k<<28 | page<<16 | word in
 * each 32-bit little-endian word. All files are created before p0 starts,
 * so that every script process holds each file's one open file: the kernel
 * merges mappings of the same struct file only.
 *
 * They live on /dev/shm: tmpfs (huge=never by default) gives file mappings
 * the plain top-down placement, where ext4's get_unmapped_area
 * (thp_get_unmapped_area) would align mappings of 2 MiB or more. Each is
 * unlinked at once, so nothing is left behind whatever ends the oracle.
 *
 * A `secret` file is memfd_secret(2)'s, sized with ftruncate() and left
 * zero (its pages cannot be written but through a mapping). Its mappings
 * are VM_LOCKED: RLIMIT_MEMLOCK is raised as far as this process may, as
 * the model accounts no locked memory (a task with CAP_IPC_LOCK).
 */
#ifndef SYS_memfd_secret
#define SYS_memfd_secret 447
#endif

static int memfd_secret(void)
{
	return (int)syscall(SYS_memfd_secret, 0);
}

/* Lift RLIMIT_MEMLOCK as far as this process may (to its hard limit, or none). */
static void raise_memlock(void)
{
	struct rlimit r;
	if (getrlimit(RLIMIT_MEMLOCK, &r) < 0)
		die("getrlimit: %s", strerror(errno));
	const struct rlimit unlimited = { RLIM_INFINITY, RLIM_INFINITY };
	if (setrlimit(RLIMIT_MEMLOCK, &unlimited) == 0)
		return;
	r.rlim_cur = r.rlim_max;
	if (setrlimit(RLIMIT_MEMLOCK, &r) < 0)
		die("setrlimit: %s", strerror(errno));
}

static void create_files(void)
{
	static uint32_t page[PAGE / sizeof(uint32_t)];
	bool secret = false;

	for (unsigned int k = 0; k < nfiles; k++)
		secret |= files[k].secret;
	if (secret)
		raise_memlock();
	for (unsigned int k = 0; k < nfiles; k++) {
		struct script_file *f = &files[k];
		char path[] = "/dev/shm/mmlab-oracle-XXXXXX";
		struct stat st;

		if (f->secret) {
			f->fd = memfd_secret();
			if (f->fd < 0)
				die("file %s secret: memfd_secret: %s", f->name, strerror(errno));
		} else {
			f->fd = mkstemp(path);
			if (f->fd < 0)
				die("cannot create a file in /dev/shm: %s", strerror(errno));
			unlink(path);
		}
		if (ftruncate(f->fd, (off_t)(f->pages * PAGE)) < 0)
			die("ftruncate: %s", strerror(errno));
		if (!f->secret) {
			for (uint32_t j = 0; j < f->pages; j++) {
				for (uint32_t i = 0; i < PAGE / sizeof(uint32_t); i++)
					page[i] = (k + 1) << 28 | j << 16 | i;
				if (pwrite(f->fd, page, PAGE, (off_t)(j * PAGE)) != (ssize_t)PAGE)
					die("cannot write file %s: %s", f->name, strerror(errno));
			}
		}
		if (fstat(f->fd, &st) < 0)
			die("fstat: %s", strerror(errno));
		f->dev = st.st_dev;
		f->ino = st.st_ino;
	}
}

/* ---------------------------------------------------------------- */
/* /proc/self/maps, read without malloc */

struct vma {
	unsigned long start, end;
	char perms[5];
	unsigned long long offset;
	unsigned int major, minor;
	unsigned long inode;
	const char *path;	/* "" if none; valid until the next maps_next() */
};

static struct {
	int fd;
	size_t len, pos;	/* bytes in buf, and how many of them are used */
	char buf[16384];
	char line[PATH_MAX + 128];
} maps;

static void maps_open(void)
{
	maps.fd = open("/proc/self/maps", O_RDONLY);
	if (maps.fd < 0)
		die("cannot open /proc/self/maps: %s", strerror(errno));
	maps.len = maps.pos = 0;
}

/* The next VMA in address order, or false at the end (and the file is closed). */
static bool maps_next(struct vma *v)
{
	size_t n = 0;
	for (;;) {
		if (maps.pos == maps.len) {
			ssize_t got = read(maps.fd, maps.buf, sizeof maps.buf);
			if (got < 0 && errno == EINTR)
				continue;
			if (got < 0)
				die("cannot read /proc/self/maps: %s", strerror(errno));
			if (got == 0) {
				if (n == 0) {
					close(maps.fd);
					return false;
				}
				break;
			}
			maps.len = (size_t)got;
			maps.pos = 0;
		}
		char ch = maps.buf[maps.pos++];
		if (ch == '\n')
			break;
		if (n < sizeof maps.line - 1)
			maps.line[n++] = ch;
	}
	maps.line[n] = '\0';

	int path_at = 0;
	if (sscanf(maps.line, "%lx-%lx %4s %llx %x:%x %lu %n", &v->start, &v->end, v->perms, &v->offset,
		   &v->major, &v->minor, &v->inode, &path_at) != 7 || path_at == 0)
		die("cannot parse /proc/self/maps line '%s'", maps.line);
	v->path = maps.line + path_at;
	return true;
}

/* ---------------------------------------------------------------- */
/* The window */

static unsigned long window;	/* its base: script addresses are offsets from here */

/* Where the kernel would place len bytes without a hint, top-down. */
static unsigned long probe(size_t len)
{
	void *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		die("mmap probe of %zu bytes: %s", len, strerror(errno));
	munmap(p, len);
	return (unsigned long)p;
}

/*
 * Choose the window and fill all free space from its top up to mmap_base
 * with placeholders, so that the highest free page below mmap_base is the
 * window's last page: the top-down search then starts at the window's top.
 */
static void setup_window(void)
{
	/*
	 * The kernel places a 3 GiB probe at the top of the highest gap below
	 * mmap_base that is that large: the gap below the shared libraries.
	 * The window sits in its middle, so the 1 GiB below it is free too.
	 */
	window = (probe(3 * WINDOW_SIZE) + WINDOW_SIZE + PMD_SIZE - 1) & ~(PMD_SIZE - 1);
	const unsigned long top = window + WINDOW_SIZE;

	/* Each pass fills the highest gap left, found the way the kernel finds it. */
	for (;;) {
		unsigned long page = probe(PAGE);
		if (page < top) {
			if (page != top - PAGE)
				die("top-down placement does not start at the window's top (%#lx, not %#lx): "
				    "is the legacy bottom-up layout in use (RLIMIT_STACK unlimited, vm.legacy_va_layout)?",
				    page, top - PAGE);
			return;
		}
		/* The gap ends at page + PAGE and begins at the end of the VMA below. */
		unsigned long floor = top;
		struct vma v;
		maps_open();
		while (maps_next(&v))
			if (v.end <= page && v.end > floor)
				floor = v.end;
		size_t len = page + PAGE - floor;
		void *p = mmap((void *)floor, len, PROT_NONE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
		if (p != (void *)floor)
			die("placeholder at %#lx (%zu bytes): %s", floor, len,
			    p == MAP_FAILED ? strerror(errno) : "placed elsewhere");
	}
}

/*
 * Move this process's heap into the window: mm->start_brk = mm->brk =
 * window + HEAP_START, as exec would have placed it there. PR_SET_MM_MAP
 * (CONFIG_CHECKPOINT_RESTORE) needs no privilege, unlike PR_SET_MM_BRK and
 * PR_SET_MM_START_BRK (CAP_SYS_RESOURCE); it sets every field of the
 * mm's layout at once, so the others are passed as /proc/self/stat shows
 * them. The old heap stays where it is, outside the window, and unused:
 * script processes never allocate. The kernel decides whether a break
 * below start_brk is refused by start_brk, unless it is built with
 * CONFIG_COMPAT_BRK and runs without randomization (then by end_data).
 */
static void move_heap(void)
{
	/* Fields 26-28 and 45-51 of proc(5)'s /proc/PID/stat, counted from 1. */
	enum { START_CODE = 26, END_CODE, START_STACK, START_DATA = 45, END_DATA, START_BRK,
	       ARG_START, ARG_END, ENV_START, ENV_END };
	unsigned long field[ENV_END + 1] = { 0 };
	char stat[4096];
	int fd = open("/proc/self/stat", O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, stat, sizeof stat - 1);
	if (n < 0)
		die("cannot read /proc/self/stat: %s", strerror(errno));
	close(fd);
	stat[n] = '\0';
	/* Field 2, the command name in parentheses, may hold anything but ends at the last ')'. */
	char *p = strrchr(stat, ')');
	for (int f = 3; p && f <= ENV_END; f++) {
		p = strchr(p + 1, ' ');
		if (p)
			field[f] = strtoul(p + 1, NULL, 10);
	}
	if (!p)
		die("cannot parse /proc/self/stat");
	struct prctl_mm_map map = {
		.start_code = field[START_CODE], .end_code = field[END_CODE],
		.start_data = field[START_DATA], .end_data = field[END_DATA],
		.start_brk = window + HEAP_START, .brk = window + HEAP_START,
		.start_stack = field[START_STACK],
		.arg_start = field[ARG_START], .arg_end = field[ARG_END],
		.env_start = field[ENV_START], .env_end = field[ENV_END],
		.exe_fd = (uint32_t)-1,
	};
	if (prctl(PR_SET_MM, PR_SET_MM_MAP, &map, sizeof map, 0) < 0)
		die("cannot move the heap into the window: prctl(PR_SET_MM_MAP): %s%s", strerror(errno),
		    errno == EINVAL ? " (brk needs a kernel built with CONFIG_CHECKPOINT_RESTORE)" : "");
}

/* ---------------------------------------------------------------- */
/* The channel between the coordinator and a script process */

/*
 * A request is the index of a command in commands[], or LIST for the maps
 * listing; a `fork` request carries the child's end of its channel. A reply
 * is text that ends with a NUL byte; `exit` has none (see the top).
 */
#define LIST (-1)

/* A script process sends its reply. */
static void send_all(int channel, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(channel, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
			_exit(0);	/* the coordinator is gone */
		if (n < 0)
			die("send: %s", strerror(errno));
		buf += n;
		len -= (size_t)n;
	}
}

static void send_request(int channel, int32_t index, int pass_fd)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct iovec iov = { .iov_base = &index, .iov_len = sizeof index };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (pass_fd >= 0) {
		msg.msg_control = control.buf;
		msg.msg_controllen = sizeof control.buf;
		struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &pass_fd, sizeof(int));
	}
	if (sendmsg(channel, &msg, MSG_NOSIGNAL) != (ssize_t)sizeof index)
		die("sendmsg: %s", strerror(errno));
}

/* The next request, or false when the coordinator is gone. *passed: the descriptor it carries, or -1. */
static bool recv_request(int channel, int32_t *index, int *passed)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct iovec iov = { .iov_base = index, .iov_len = sizeof *index };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
			      .msg_controllen = sizeof control.buf };
	ssize_t n;

	do
		n = recvmsg(channel, &msg, MSG_WAITALL);
	while (n < 0 && errno == EINTR);
	/* ECONNRESET: the coordinator died before it read all of the last reply. */
	if (n == 0 || (n < 0 && errno == ECONNRESET))
		return false;
	if (n != (ssize_t)sizeof *index)
		die("recvmsg: %s", n < 0 ? strerror(errno) : "short request");
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	*passed = -1;
	if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
		memcpy(passed, CMSG_DATA(cm), sizeof(int));
	return true;
}

/* The reply of a script process, sent in pieces when it outgrows the buffer. */
static struct {
	int channel;
	size_t len;
	char buf[65536];
} reply;

/* Add `n` bytes to the reply. */
static void reply_put(const char *text, size_t n)
{
	while (n) {
		if (reply.len == sizeof reply.buf) {
			send_all(reply.channel, reply.buf, reply.len);
			reply.len = 0;
		}
		size_t room = sizeof reply.buf - reply.len;
		size_t part = n < room ? n : room;
		memcpy(reply.buf + reply.len, text, part);
		reply.len += part;
		text += part;
		n -= part;
	}
}

/* Add one line to the reply. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
	char line[PATH_MAX + 128];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof line - 2)
		n = (int)sizeof line - 2;
	line[n++] = '\n';
	reply_put(line, (size_t)n);
}

static void reply_end(void)
{
	if (reply.len == sizeof reply.buf) {
		send_all(reply.channel, reply.buf, reply.len);
		reply.len = 0;
	}
	reply.buf[reply.len++] = '\0';
	send_all(reply.channel, reply.buf, reply.len);
	reply.len = 0;
}

/* ---------------------------------------------------------------- */
/* Script processes: running commands */

/* Symbolic names of the errors that mmap, munmap, mprotect, mremap and madvise return. */
static const char *errno_name(int e)
{
	static const struct { int e; const char *name; } names[] = {
#define E(x) { x, #x }
		E(EPERM), E(EINTR), E(EIO), E(EBADF), E(EAGAIN), E(ENOMEM), E(EACCES), E(EFAULT),
		E(EBUSY), E(EEXIST), E(ENODEV), E(EINVAL), E(ENFILE), E(EMFILE), E(ETXTBSY),
		E(EFBIG), E(ENOSPC), E(EOVERFLOW), E(EHWPOISON), E(EOPNOTSUPP),
#undef E
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (names[i].e == e)
			return names[i].name;
	die("no name for errno %d (%s): add it to errno_name()", e, strerror(e));
}

/* DESIGN.md §4: a command whose range leaves the window is not run. */
static bool leaves_window(uint64_t addr, uint64_t pages)
{
	return addr + pages * PAGE > WINDOW_SIZE;
}

/*
 * The result of mmap or mremap: the window offset of the new mapping. One
 * that the kernel placed outside the window is not kept (DESIGN.md §4); for
 * a move, the old range is gone already, and that is accepted.
 */
static void say_placed(void *p, size_t len)
{
	unsigned long start = (unsigned long)p;
	if (p == MAP_FAILED) {
		say("%s", errno_name(errno));
	} else if (start < window || start + len > window + WINDOW_SIZE) {
		munmap(p, len);
		say("OUTSIDE");
	} else {
		say("0x%lx", start - window);
	}
}

/*
 * A 32-bit word at any byte address. x86 loads and stores it with one
 * instruction, which faults as a whole when either page faults: a faulting
 * store stores nothing, as the script language says.
 */
struct unaligned_u32 {
	uint32_t v;
} __attribute__((packed, may_alias));

static sigjmp_buf fault_jump;
static volatile sig_atomic_t fault_expected;

static void on_fault(int sig)
{
	if (!fault_expected) {
		/* A bug of the oracle: the access is retried and kills the process. */
		signal(sig, SIG_DFL);
		return;
	}
	fault_expected = 0;
	siglongjmp(fault_jump, sig);
}

/* Load or store the word at p: 0, or the signal that the access raised. */
static int access_word(unsigned long p, bool store, uint32_t *value)
{
	volatile struct unaligned_u32 *word = (volatile struct unaligned_u32 *)p;
	int sig = sigsetjmp(fault_jump, 1);
	if (sig)
		return sig;
	fault_expected = 1;
	if (store)
		word->v = *value;
	else
		*value = word->v;
	fault_expected = 0;
	return 0;
}

/* Run a memory command in this process and say its result. */
static void say_maps_line(void);

static void run_command(const struct command *c)
{
	void *addr = (void *)(window + c->addr);
	size_t len = (size_t)c->pages * PAGE;
	uint32_t value = c->value;
	int ret = 0;

	switch (c->op) {
	case OP_MMAP:
		if (c->has_addr && leaves_window(c->addr, c->pages)) {
			say("OUTSIDE");
			return;
		}
		say_placed(mmap(c->has_addr ? addr : NULL, len, c->prot, c->flags,
				c->file < 0 ? -1 : files[c->file].fd, (off_t)c->off * (off_t)PAGE),
			   len);
		return;
	case OP_MREMAP: {
		uint32_t larger = c->pages > c->new_pages ? c->pages : c->new_pages;
		bool fixed = c->flags & MREMAP_FIXED;
		if (leaves_window(c->addr, larger) || (fixed && leaves_window(c->target, c->new_pages))) {
			say("OUTSIDE");
			return;
		}
		/* With MREMAP_DONTUNMAP alone the kernel takes new_address as a hint; scripts have none. */
		len = (size_t)c->new_pages * PAGE;
		say_placed(mremap(addr, (size_t)c->pages * PAGE, len, c->flags,
				  fixed ? (void *)(window + c->target) : NULL),
			   len);
		return;
	}
	case OP_MUNMAP:
	case OP_MPROTECT:
	case OP_MADVISE:
		if (leaves_window(c->addr, c->pages)) {
			say("OUTSIDE");
			return;
		}
		ret = c->op == OP_MUNMAP ? munmap(addr, len)
		      : c->op == OP_MPROTECT ? mprotect(addr, len, c->prot)
		      : madvise(addr, len, c->flags);
		if (ret < 0)
			say("%s", errno_name(errno));
		else
			say("ok");
		return;
	case OP_BRK: {
		/* brk() keeps a free page above the new break: that page must be in the window too. */
		if (c->addr > WINDOW_SIZE - PAGE) {
			say("OUTSIDE");
			return;
		}
		/* The raw system call: glibc's brk() returns 0 or -1, not the break. */
		unsigned long brk = (unsigned long)syscall(SYS_brk, window + c->addr);
		if (brk < window || brk > window + WINDOW_SIZE)
			die("line %u: brk returned %#lx, outside the window", c->line, brk);
		say("0x%lx", brk - window);
		return;
	}
	case OP_WRITE:
	case OP_READ:
		if (c->addr > WINDOW_SIZE - sizeof(uint32_t)) {
			say("OUTSIDE");
			return;
		}
		ret = access_word(window + c->addr, c->op == OP_WRITE, &value);
		if (ret)
			say("%s", ret == SIGBUS ? "SIGBUS" : "SIGSEGV");
		else if (c->op == OP_READ)
			say("= 0x%08x", value);
		else
			say("ok");
		return;
	case OP_MAPS:
		say_maps_line();
		return;
	case OP_FILE:
	case OP_FORK:
	case OP_EXIT:
		break;
	}
	die("line %u: not a memory command", c->line);
}

/* ---------------------------------------------------------------- */
/* Script processes: the listing */

/*
 * The name that the listing gives a VMA (DESIGN.md §4): the script's name
 * for its files, none for private anonymous memory, [shmem] for shared
 * anonymous memory, whose shmem file /proc shows as "/dev/zero (deleted)".
 */
static const char *vma_name(const struct vma *v)
{
	for (unsigned int k = 0; k < nfiles; k++)
		if (v->inode == files[k].ino && v->major == major(files[k].dev) && v->minor == minor(files[k].dev))
			return files[k].name;
	if (v->inode == 0)
		return "";
	if (strcmp(v->path, "/dev/zero (deleted)") == 0)
		return "[shmem]";
	return v->path;	/* nothing else maps into the window: show it as it is */
}

/*
 * This process's VMAs inside the window, clipped to it, each as the
 * listing prints it (without a newline), to `each`.
 */
static void window_maps(void (*each)(const char *line))
{
	const unsigned long top = window + WINDOW_SIZE;
	char line[PATH_MAX + 128];
	struct vma v;

	maps_open();
	while (maps_next(&v)) {
		if (v.end <= window || v.start >= top)
			continue;
		unsigned long start = v.start > window ? v.start : window;
		unsigned long end = v.end < top ? v.end : top;
		/* /proc shows no offset for private anonymous memory (no vm_file), nor does the listing. */
		unsigned long long offset = v.inode == 0 ? 0 : v.offset + (start - v.start);
		const char *name = vma_name(&v);
		snprintf(line, sizeof line, "%08lx-%08lx %s %08llx%s%s", start - window, end - window, v.perms,
			 offset, *name ? " " : "", name);
		each(line);
	}
}

static void say_line(const char *line)
{
	say("%s", line);
}

/* Say this process's VMAs inside the window, a line each (the listing at the end). */
static void say_maps(void)
{
	window_maps(say_line);
}

static bool maps_said;

static void say_entry(const char *line)
{
	if (maps_said)
		reply_put(", ", 2);
	reply_put(line, strlen(line));
	maps_said = true;
}

/* The `maps` command: the same VMAs on one line, comma-separated; `none` if there is none. */
static void say_maps_line(void)
{
	maps_said = false;
	window_maps(say_entry);
	if (!maps_said)
		reply_put("none", 4);
	reply_put("\n", 1);
}

/* ---------------------------------------------------------------- */
/* A script process */

static void serve(int channel) __attribute__((noreturn));

static void serve(int channel)
{
	int32_t index;
	int passed;

	while (recv_request(channel, &index, &passed)) {
		reply.channel = channel;
		if (index == LIST) {
			say_maps();
		} else if (commands[index].op == OP_EXIT) {
			_exit(0);
		} else if (commands[index].op == OP_FORK) {
			pid_t pid = fork();
			if (pid < 0)
				die("line %u: fork: %s", commands[index].line, strerror(errno));
			if (pid == 0) {
				/* The child, with a channel of its own: it replies to nothing yet. */
				close(channel);
				channel = passed;
				continue;
			}
			close(passed);
			say("ok");
		} else {
			run_command(&commands[index]);
		}
		reply_end();
	}
	_exit(0);
}

/* ---------------------------------------------------------------- */
/* The coordinator */

static char *read_stdin(size_t *size)
{
	size_t capacity = 0, len = 0;
	char *text = NULL;
	for (;;) {
		if (len == capacity)
			text = grow(text, &capacity, 1);
		ssize_t n = read(STDIN_FILENO, text + len, capacity - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("cannot read the script: %s", strerror(errno));
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*size = len;
	return text;
}

/* Copy one reply of process pid to stdout. */
static void relay_reply(int channel, unsigned int pid)
{
	char buf[4096];
	for (;;) {
		ssize_t n = read(channel, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("p%u: read: %s", pid, strerror(errno));
		if (n == 0)
			die("p%u ended unexpectedly", pid);
		char *nul = memchr(buf, '\0', (size_t)n);
		fwrite(buf, 1, nul ? (size_t)(nul - buf) : (size_t)n, stdout);
		if (nul)
			return;
	}
}

/* Wait until process pid has exited: its end of the channel closes after its mm is released. */
static void await_exit(int channel, unsigned int pid)
{
	char byte;
	ssize_t n;
	do
		n = read(channel, &byte, 1);
	while (n < 0 && errno == EINTR);
	if (n != 0)
		die("p%u did not exit", pid);
}

/*
 * `--zero-page`: whether a read fault of private anonymous memory maps the
 * shared zero page here (do_anonymous_page() unless mm_forbids_zeropage()),
 * which decides whether the VMA gets an anon_vma and so what it merges
 * with. The zero page is a special PTE that /proc counts in no VMA's Rss:
 * a read-faulted page that shows in Rss is a page of its own. Prints
 * `zero page` or `own page`.
 */
static int probe_zero_page(void)
{
	/*
	 * The page between two PROT_NONE guards, so that its VMA merges with no
	 * neighbour whose pages would count in its Rss.
	 */
	const long page = sysconf(_SC_PAGESIZE);
	char *guarded = mmap(NULL, 3 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (guarded == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	volatile char *p = guarded + page;
	if (mprotect(guarded + page, page, PROT_READ | PROT_WRITE) < 0)
		die("mprotect: %s", strerror(errno));
	(void)p[0];
	FILE *f = fopen("/proc/self/smaps", "r");
	if (!f)
		die("/proc/self/smaps: %s", strerror(errno));
	char line[512];
	bool ours = false;
	long rss_kb = -1;
	while (fgets(line, sizeof line, f)) {
		unsigned long start, end;
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2)
			ours = start <= (unsigned long)p && (unsigned long)p < end;
		else if (ours && sscanf(line, "Rss: %ld kB", &rss_kb) == 1)
			break;
	}
	fclose(f);
	if (rss_kb < 0)
		die("/proc/self/smaps: no Rss for the probe's mapping");
	puts(rss_kb == 0 ? "zero page" : "own page");
	return 0;
}

/* Whether a child can write the shared page at p and read it back (a fault that fails kills only it). */
static bool child_writes(volatile uint32_t *p)
{
	pid_t child = fork();
	if (child < 0)
		die("fork: %s", strerror(errno));
	if (child == 0) {
		*p = 0x5ec;
		_exit(*p == 0x5ec ? 0 : 1);
	}
	int status;
	while (waitpid(child, &status, 0) < 0)
		if (errno != EINTR)
			die("waitpid: %s", strerror(errno));
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/*
 * `--secretmem`: whether scripts' `secret` files run here as in the model:
 * memfd_secret(2) works (secretmem.enable, and a kernel that can take
 * pages out of its direct map), a mapping of one page past RLIMIT_MEMLOCK,
 * raised as far as it goes, is allowed (no limit, or CAP_IPC_LOCK), and
 * its first page faults in. Prints `secretmem` or `no secretmem`.
 */
static int probe_secretmem(void)
{
	int fd = memfd_secret();
	bool ok = fd >= 0;
	struct rlimit r;

	raise_memlock();
	if (getrlimit(RLIMIT_MEMLOCK, &r) < 0)
		die("getrlimit: %s", strerror(errno));
	if (ok) {
		const size_t len = r.rlim_cur == RLIM_INFINITY ? PAGE : (size_t)r.rlim_cur + PAGE;
		void *p = MAP_FAILED;
		if (ftruncate(fd, (off_t)len) == 0)
			p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		ok = p != MAP_FAILED && child_writes(p);
	}
	puts(ok ? "secretmem" : "no secretmem");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--zero-page") == 0)
		return probe_zero_page();
	if (argc == 2 && strcmp(argv[1], "--secretmem") == 0)
		return probe_secretmem();
	if (argc != 1)
		die("usage: %s [--zero-page | --secretmem] < script", argv[0]);
	size_t size;
	char *text = read_stdin(&size);
	parse_script(text, size);

	create_files();
	setup_window();

	/* The channel of each script process, indexed by pN; -1 once it has exited. */
	int *channel = malloc(nprocs * sizeof *channel);
	int pair[2];
	if (!channel)
		die("out of memory");
	for (unsigned int n = 0; n < nprocs; n++)
		channel[n] = -1;

	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		die("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) < 0)
		die("socketpair: %s", strerror(errno));
	pid_t p0 = fork();
	if (p0 < 0)
		die("fork: %s", strerror(errno));
	if (p0 == 0) {
		struct sigaction sa = { .sa_handler = on_fault };
		sigemptyset(&sa.sa_mask);
		close(pair[0]);
		signal(SIGCHLD, SIG_IGN);
		if (sigaction(SIGSEGV, &sa, NULL) < 0 || sigaction(SIGBUS, &sa, NULL) < 0)
			die("sigaction: %s", strerror(errno));
		/* In p0, not before fork: the coordinator allocates, and its heap must stay out of the window. */
		if (uses_brk)
			move_heap();
		serve(pair[1]);
	}
	close(pair[1]);
	channel[0] = pair[0];

	for (size_t i = 0; i < ncommands; i++) {
		const struct command *c = &commands[i];
		int ch = channel[c->pid];
		switch (c->op) {
		case OP_FILE:
			/* Created before p0 started (see create_files). */
			puts("ok");
			break;
		case OP_FORK:
			if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) < 0)
				die("socketpair: %s", strerror(errno));
			send_request(ch, (int32_t)i, pair[1]);
			close(pair[1]);
			channel[c->child] = pair[0];
			relay_reply(ch, c->pid);
			break;
		case OP_EXIT:
			send_request(ch, (int32_t)i, -1);
			await_exit(ch, c->pid);
			close(ch);
			channel[c->pid] = -1;
			puts("ok");
			break;
		default:
			send_request(ch, (int32_t)i, -1);
			relay_reply(ch, c->pid);
		}
	}
	for (unsigned int n = 0; n < nprocs; n++) {
		if (channel[n] < 0)
			continue;
		printf("p%u maps:\n", n);
		send_request(channel[n], LIST, -1);
		relay_reply(channel[n], n);
		close(channel[n]);
	}

	/* Every script process has read EOF and is exiting; reap them (orphans included). */
	while (wait(NULL) > 0 || errno == EINTR)
		;
	if (fflush(stdout) != 0 || ferror(stdout))
		die("cannot write the output: %s", strerror(errno));
	return 0;
}
