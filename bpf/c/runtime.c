// SPDX-License-Identifier: GPL-2.0
// nodeguard runtime anomaly detection. Only tracepoint-class hooks (tp_btf and
// raw_tp) are used: hardened kernels refuse kprobes, fentry and BPF LSM. Every
// handler has a tp_btf and a raw_tp entry point sharing one body; all reads go
// through BPF_CORE_READ so the body is valid for both, and the loader picks the
// first the kernel accepts. Filtering happens here: only events that match a
// rule reach the ring buffer, and they are submitted without a wake-up unless
// the buffer fills past a threshold (a wake-up per event costs more than the
// event itself).
//
// Verifier budget: every program must verify far below the 1M-instruction
// limit on every kernel a fleet runs, so nothing here branches per byte of a
// string: path prefixes are matched by an LPM trie, container ids by a table
// lookup per character, and the dentry and cgroup walks are global functions
// the verifier checks once. The `features` constant selects a simpler variant
// of each program (container membership and exec paths decided in user space)
// that the loader falls back to when a kernel refuses the full one.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

// Rule bits; the order is the Rule enum in agent/anomaly/rules.go.
#define R_UNEXPECTED_LISTENER (1u << 0)
#define R_SHELL_IN_CONTAINER (1u << 1)
#define R_EXEC_WRITABLE_DIR (1u << 2)
#define R_KERNEL_MODULE_LOAD (1u << 3)
#define R_PTRACE_ATTACH (1u << 4)
#define R_SETUID_ROOT (1u << 5)
#define R_SENSITIVE_FILE_WRITE (1u << 6)
#define R_NAMESPACE_ESCAPE (1u << 7)
#define R_BPF_LOAD (1u << 8)
#define R_PKG_MGR_IN_CONTAINER (1u << 9)

// Event kinds: which hook produced the event, so userspace knows how to read
// the rule-specific fields.
#define K_EXEC 1
#define K_SYSCALL 2
#define K_LISTEN 3
#define K_MODULE 4

// Event flags.
#define F_IN_CONTAINER (1u << 0)
#define F_DELETED (1u << 1)
#define F_MEMFD (1u << 2)
#define F_PATH_TRUNCATED (1u << 3)
#define F_CGROUP_V1 (1u << 4)
// Container membership was not decided here (simple variant): user space
// decides from the cgroup id and /proc.
#define F_CONTAINER_UNKNOWN (1u << 5)
// The path is the file name exec was given, not the resolved executable.
#define F_PATH_FROM_NAME (1u << 6)

// Features of the full variant; the loader clears them for the simple one.
#define FEAT_KERNEL_CONTAINER (1u << 0)
#define FEAT_PATH_WALK (1u << 1)

// Programs, for the lost-event counters.
#define P_EXEC 0
#define P_SYS_ENTER 1
#define P_SOCK 2
#define P_MODULE 3
#define P_COUNT 4

// Flags of exec_names entries.
#define N_SHELL 1
#define N_PKG_MGR 2

#define COMM_LEN 16
#define CGROUP_NAME_LEN 128
#define PATH_LEN 256
#define ARGS_LEN 256
#define PREFIX_LEN 64
#define MAX_PREFIXES 64
#define MAX_COMPONENTS 32
#define CGROUP_DEPTH 4

#define TCP_LISTEN 10
#define AF_INET 2
#define AF_INET6 10
#define PTRACE_POKETEXT 4
#define PTRACE_POKEDATA 5
#define PTRACE_POKEUSER 6
#define PTRACE_ATTACH 16
#define PTRACE_SEIZE 0x4206
#define BPF_PROG_LOAD_CMD 5
#define O_ACCMODE 3
#define O_CREAT 0100
#define O_TRUNC 01000
#define AT_FDCWD -100
#define CAP_SETUID 7

struct event {
	__u64 ts_ns;
	__u64 cgroup_id;
	__u32 kind;
	__u32 rules;
	__u32 flags;
	__u32 pid;
	__u32 tid;
	__u32 ppid;
	__u32 uid;
	__u32 euid;
	// Rule-specific: syscall nr, ptrace request / target, setuid targets,
	// open flags, listener port and family.
	__u32 nr;
	__u32 arg0;
	__u32 arg1;
	__u32 arg2;
	__u8 addr[16];
	char comm[COMM_LEN];
	char pcomm[COMM_LEN];
	char cgroup[CGROUP_NAME_LEN];
	char path[PATH_LEN];
	char args[ARGS_LEN];
};

// Lets the Go decoder check its idea of the layout against the compiler's.
volatile const __u32 event_size = sizeof(struct event);

// Key of the path tries: prefixlen counts bits. A directory entry ("/tmp/")
// is stored without its NUL and matches everything below it; a file entry
// ("/etc/shadow") is stored with its NUL, so it matches only itself.
struct path_key {
	__u32 prefixlen;
	char s[PREFIX_LEN];
};

// The identity of an executable as the kernel sees it.
struct exe_id {
	__u64 ino;
	__u32 dev;
	__u32 set;
};

// Set by the loader before the programs are loaded.
volatile const __u32 enabled_rules = 0;
volatile const __u32 features = FEAT_KERNEL_CONTAINER | FEAT_PATH_WALK;
volatile const __u64 wake_bytes = 65536;
volatile const __s32 nr_open = -1, nr_openat = -1, nr_openat2 = -1, nr_creat = -1;
volatile const __s32 nr_ptrace = -1, nr_setuid = -1, nr_setreuid = -1, nr_setresuid = -1;
volatile const __s32 nr_setns = -1, nr_unshare = -1, nr_mount = -1, nr_move_mount = -1, nr_fsmount = -1;
volatile const __s32 nr_bpf = -1;
// The agent's own process: its program loads and reads are not events, and
// its first bpf() call records its executable in self_exe.
volatile const __u32 agent_tgid = 0;
// Byte offsets of the first four syscall arguments in struct pt_regs.
volatile const __u32 arg_off0 = 0, arg_off1 = 0, arg_off2 = 0, arg_off3 = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 21);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, P_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

// comm -> N_SHELL | N_PKG_MGR.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, char[COMM_LEN]);
	__type(value, __u32);
} exec_names SEC(".maps");

// comm -> rule bits that process may trigger without an event.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, char[COMM_LEN]);
	__type(value, __u32);
} allow_comm SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, MAX_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct path_key);
	__type(value, __u32);
} writable_dirs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, MAX_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct path_key);
	__type(value, __u32);
} sensitive_paths SEC(".maps");

// The agent's executables: other processes running one of them (an admin's
// `nodeguard scan`, whose socket iterator is a BPF program) are the agent too.
// Slot 0 is the agent's own, taken at its first bpf() call; slot 1 the light
// `nodeguard` beside it, taken at the first bpf() call of a child of the
// agent (the agent starts it once, for that). Both are the kernel's view of
// the file (exe_file's inode), which stat does not give on overlayfs.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct exe_id);
} self_exe SEC(".maps");

struct scratch {
	char path[PATH_LEN * 2];
	char str[PATH_LEN];
	char exe[PATH_LEN];
	char cgroup[CGROUP_NAME_LEN];
	__u64 cgid;
	struct path_key key;
	__u64 dentries[MAX_COMPONENTS];
	__u64 n, pos;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

// bounded(v, mask) is v & mask, with the mask kept even where the compiler can
// prove it redundant: the verifier may not know what the compiler knows.
#define bounded(v, mask)                         \
	({                                       \
		__u64 __v = (v);                 \
		asm volatile("" : "+r"(__v));    \
		__v & (mask);                    \
	})

// Kernels before 6.15 call kernfs_node's parent "parent".
struct kernfs_node___old {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

static __always_inline void count_lost(__u32 prog)
{
	__u64 *n = bpf_map_lookup_elem(&lost, &prog);
	if (n)
		__sync_fetch_and_add(n, 1);
}

static __always_inline void submit(struct event *ev)
{
	__u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	bpf_ringbuf_submit(ev, avail >= wake_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
}

static __always_inline struct kernfs_node *kn_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(kn->__parent))
		return BPF_CORE_READ(kn, __parent);
	struct kernfs_node___old *old = (void *)kn;
	return BPF_CORE_READ(old, parent);
}

// hex_digit[c] is 1 for a lower-case hex digit: a table lookup per character
// keeps the id check free of branches, so the verifier walks it once per
// runtime prefix instead of once per character and outcome.
static const __u8 hex_digit[256] = {
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1,
	['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
};

// The runtimes' prefixes as little-endian words, with masks for the bytes
// that belong to them.
#define W_CRI_CONT 0x746e6f632d697263ull /* "cri-cont" */
#define W_AINERD 0x002d6472656e6961ull /* "ainerd-" */
#define W_CRIO 0x0000002d6f697263ull /* "crio-" */
#define W_DOCKER 0x002d72656b636f64ull /* "docker-" */
#define W_LIBPOD 0x002d646f7062696cull /* "libpod-" */
#define W_MEMFD 0x00003a64666d656dull /* "memfd:" */
#define MASK5 0x000000ffffffffffull
#define MASK6 0x0000ffffffffffffull
#define MASK7 0x00ffffffffffffffull

// A container's cgroup is named after its 64-hex id, bare (cgroupfs driver)
// or behind a runtime prefix (systemd driver): cri-containerd-, crio-,
// docker-, libpod-. name is s->cgroup: 8-byte aligned, CGROUP_NAME_LEN long.
static __always_inline int container_name(const char *name)
{
	__u64 w0 = *(const __u64 *)name;
	__u64 w1 = *(const __u64 *)(name + 8);
	__u32 skip = 0;
	if (w0 == W_CRI_CONT && (w1 & MASK7) == W_AINERD)
		skip = 15;
	else if ((w0 & MASK5) == W_CRIO)
		skip = 5;
	else if ((w0 & MASK7) == W_DOCKER || (w0 & MASK7) == W_LIBPOD)
		skip = 7;
	__u32 bad = 0;
	for (int i = 0; i < 64; i++)
		bad |= hex_digit[(__u8)name[(skip + i) & (CGROUP_NAME_LEN - 1)]] ^ 1;
	char end = name[(skip + 64) & (CGROUP_NAME_LEN - 1)];
	return bad == 0 && (end == 0 || end == '.');
}

// in_container looks at the cgroup (v2, else the v1 pids hierarchy) and up
// to CGROUP_DEPTH-1 ancestors, because a container may make sub-cgroups of its
// own. It returns IC_YES (| IC_V1) and leaves the container's cgroup name in
// s->cgroup and the cgroup id in s->cgid. A global function, so the verifier
// checks it once rather than at every call site.
#define IC_YES 1
#define IC_V1 2
__noinline int in_container(struct scratch *s)
{
	if (!s)
		return 0;
	struct task_struct *t = (void *)bpf_get_current_task();
	int ret = 0;
	struct cgroup *cg = BPF_CORE_READ(t, cgroups, dfl_cgrp);
	int level = BPF_CORE_READ(cg, level);
	if (level == 0) {
		__u32 id = bpf_core_enum_value(enum cgroup_subsys_id, pids_cgrp_id);
		struct css_set *cs = BPF_CORE_READ(t, cgroups);
		struct cgroup_subsys_state *css = 0;
		bpf_probe_read_kernel(&css, sizeof(css),
				      (void *)cs + bpf_core_field_offset(struct css_set, subsys) + (id & 15) * sizeof(css));
		if (css) {
			cg = BPF_CORE_READ(css, cgroup);
			ret |= IC_V1;
		}
	}
	struct kernfs_node *kn = BPF_CORE_READ(cg, kn);
	s->cgid = BPF_CORE_READ(kn, id);
	for (int i = 0; i < CGROUP_DEPTH && kn; i++) {
		const char *name = BPF_CORE_READ(kn, name);
		if (bpf_probe_read_kernel_str(s->cgroup, CGROUP_NAME_LEN, name) < 0)
			return 0;
		if (container_name(s->cgroup))
			return ret | IC_YES;
		kn = kn_parent(kn);
	}
	return 0;
}

// build_path writes the path of (dentry, vfsmount) to s->exe, like d_path
// relative to the global root. It is two loops so that the verifier can prune:
// the first walks up at most MAX_COMPONENTS dentries and mount points and collects
// the components' dentries; the second copies their names forwards with a
// constant read size. (One backwards loop with reads sized by each name ties
// the write offset to the names' lengths, and the verifier then tells every
// iteration's outcomes apart: over a million instructions.) Returns 1 when the
// path was cut. A global function: verified once, whatever calls it.
__noinline int build_path(struct scratch *s, __u64 dentry, __u64 vfsmount)
{
	if (!s)
		return 0;
	struct dentry *d = (void *)dentry;
	struct mount *mnt = (void *)(vfsmount - bpf_core_field_offset(struct mount, mnt));
	// Unused slots stay 0. The counters live in the map value, not in
	// registers: the verifier does not track what memory holds, so their
	// values do not keep one iteration's states apart from another's (a
	// register known to be 0, 1, 2... would be, once used as an index).
	for (int k = 0; k < MAX_COMPONENTS; k++)
		s->dentries[k] = 0;
	s->n = 0;
	int cut = 1;
	for (int i = 0; i < MAX_COMPONENTS; i++) {
		struct dentry *mnt_root = BPF_CORE_READ(mnt, mnt.mnt_root);
		struct dentry *parent = BPF_CORE_READ(d, d_parent);
		if (d == mnt_root || d == parent) {
			struct mount *up = BPF_CORE_READ(mnt, mnt_parent);
			if (d != mnt_root || up == mnt) {
				cut = 0;
				break;
			}
			d = BPF_CORE_READ(mnt, mnt_mountpoint);
			mnt = up;
			continue;
		}
		// At most one component per iteration, so n < MAX_COMPONENTS.
		__u64 n = *(volatile __u64 *)&s->n;
		s->dentries[n & (MAX_COMPONENTS - 1)] = (__u64)d;
		s->n = n + 1;
		d = parent;
	}
	// The slots hold the components from the file up; copy them down.
	s->pos = 0;
	for (int k = MAX_COMPONENTS - 1; k >= 0; k--) {
		struct dentry *c = (void *)s->dentries[k];
		if (!c)
			continue;
		__u64 pos = *(volatile __u64 *)&s->pos;
		if (pos >= PATH_LEN - 1) {
			cut = 1;
			break;
		}
		const unsigned char *name = BPF_CORE_READ(c, d_name.name);
		s->path[pos & (PATH_LEN - 1)] = '/';
		long r = bpf_probe_read_kernel_str(&s->path[bounded(pos + 1, PATH_LEN - 1)], PATH_LEN, name);
		if (r <= 0)
			break;
		// r counts the NUL, which the next component's '/' replaces.
		s->pos = pos + r;
	}
	__u64 pos = *(volatile __u64 *)&s->pos;
	if (pos == 0) {
		s->path[0] = '/';
		pos = 1;
	}
	if (pos >= PATH_LEN) {
		pos = PATH_LEN - 1;
		cut = 1;
	}
	s->path[bounded(pos, PATH_LEN - 1)] = 0;
	bpf_probe_read_kernel(s->exe, PATH_LEN, s->path);
	s->exe[PATH_LEN - 1] = 0;
	return cut;
}

// match_path reports whether s->str (which == 0, 2) or s->exe (1, 3)
// matches an entry of writable_dirs (which < 2) or sensitive_paths: one trie
// lookup, however many entries the policy has.
static __always_inline int match_path(struct scratch *s, __u32 which)
{
	s->key.prefixlen = PREFIX_LEN * 8;
	if (which & 1)
		__builtin_memcpy(s->key.s, s->exe, PREFIX_LEN);
	else
		__builtin_memcpy(s->key.s, s->str, PREFIX_LEN);
	if (which < 2)
		return bpf_map_lookup_elem(&writable_dirs, &s->key) != 0;
	return bpf_map_lookup_elem(&sensitive_paths, &s->key) != 0;
}

static __always_inline void exe_identity(struct task_struct *t, struct exe_id *id)
{
	struct inode *in = BPF_CORE_READ(t, mm, exe_file, f_inode);
	id->ino = BPF_CORE_READ(in, i_ino);
	id->dev = BPF_CORE_READ(in, i_sb, s_dev);
}

// exe_is reports whether t runs the executable id.
static __always_inline int exe_is(struct task_struct *t, struct exe_id *id)
{
	struct inode *in = BPF_CORE_READ(t, mm, exe_file, f_inode);
	return BPF_CORE_READ(in, i_ino) == id->ino && BPF_CORE_READ(in, i_sb, s_dev) == id->dev;
}

static __always_inline void fill_task(struct event *ev, struct task_struct *t)
{
	__u64 id = bpf_get_current_pid_tgid();
	ev->ts_ns = bpf_ktime_get_ns();
	ev->pid = id >> 32;
	ev->tid = (__u32)id;
	ev->ppid = BPF_CORE_READ(t, real_parent, tgid);
	ev->uid = BPF_CORE_READ(t, cred, uid.val);
	ev->euid = BPF_CORE_READ(t, cred, euid.val);
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	BPF_CORE_READ_STR_INTO(&ev->pcomm, t, real_parent, comm);
}

static __always_inline __u32 allowed_rules(const char *comm)
{
	__u32 *a = bpf_map_lookup_elem(&allow_comm, comm);
	return a ? *a : 0;
}

// check_container runs in_container and records the result in flags/cgid.
// The simple variant does not decide here: it flags the event for user space,
// records the cgroup id, and returns undecided, which the caller sets to the
// answer that keeps the event.
static __always_inline int check_container(struct scratch *s, struct task_struct *t, __u32 *flags, __u64 *cgid,
					   int undecided)
{
	if (!(features & FEAT_KERNEL_CONTAINER)) {
		*flags |= F_CONTAINER_UNKNOWN;
		*cgid = bpf_get_current_cgroup_id();
		return undecided;
	}
	int r = in_container(s);
	if (!(r & IC_YES))
		return 0;
	*flags |= F_IN_CONTAINER | ((r & IC_V1) ? F_CGROUP_V1 : 0);
	*cgid = s->cgid;
	return 1;
}

static __always_inline struct scratch *get_scratch(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&scratch_map, &zero);
}

static __always_inline int handle_exec(struct task_struct *t, struct linux_binprm *bprm)
{
	const __u32 exec_rules = R_SHELL_IN_CONTAINER | R_EXEC_WRITABLE_DIR | R_SETUID_ROOT | R_PKG_MGR_IN_CONTAINER;
	if (!(enabled_rules & exec_rules))
		return 0;
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	char comm[COMM_LEN] = {};
	bpf_get_current_comm(comm, sizeof(comm));
	__u32 rules = 0, flags = 0;
	__u64 cgid = 0;

	struct file *file = BPF_CORE_READ(bprm, file);
	struct dentry *d = BPF_CORE_READ(file, f_path.dentry);
	struct vfsmount *vm = BPF_CORE_READ(file, f_path.mnt);
	// memfds are pseudo files (their dentry is its own parent): the
	// name is all there is. A deleted file is unhashed but has a parent.
	__u64 head = 0;
	const unsigned char *dname = BPF_CORE_READ(d, d_name.name);
	bpf_probe_read_kernel(&head, 6, dname);
	if ((head & MASK6) == W_MEMFD && BPF_CORE_READ(d, d_parent) == d) {
		flags |= F_MEMFD | F_DELETED;
		bpf_probe_read_kernel_str(s->exe, PATH_LEN, dname);
	} else if (features & FEAT_PATH_WALK) {
		if (!BPF_CORE_READ(d, d_hash.pprev) && BPF_CORE_READ(d, d_parent) != d)
			flags |= F_DELETED;
		if (build_path(s, (__u64)d, (__u64)vm))
			flags |= F_PATH_TRUNCATED;
	} else {
		// The name exec was given: absolute for anything found on $PATH.
		flags |= F_PATH_FROM_NAME;
		if (!BPF_CORE_READ(d, d_hash.pprev) && BPF_CORE_READ(d, d_parent) != d)
			flags |= F_DELETED;
		if (bpf_probe_read_kernel_str(s->exe, PATH_LEN, BPF_CORE_READ(bprm, filename)) < 0)
			s->exe[0] = 0;
	}
	if (flags & (F_DELETED | F_MEMFD))
		rules |= R_EXEC_WRITABLE_DIR;
	else if ((flags & F_PATH_FROM_NAME) && s->exe[0] != '/')
		// A relative name: user space resolves it against the cwd.
		rules |= R_EXEC_WRITABLE_DIR;
	else if (match_path(s, 1))
		rules |= R_EXEC_WRITABLE_DIR;
	else {
		// A script's interpreter is the file; the script is the name.
		const char *fn = BPF_CORE_READ(bprm, filename);
		if (bpf_probe_read_kernel_str(s->str, PATH_LEN, fn) > 0 && s->str[0] == '/' &&
		    match_path(s, 0))
			rules |= R_EXEC_WRITABLE_DIR;
	}

	__u32 uid = BPF_CORE_READ(t, cred, uid.val);
	__u32 euid = BPF_CORE_READ(t, cred, euid.val);
	if (euid == 0 && uid != 0)
		rules |= R_SETUID_ROOT;

	__u32 *n = bpf_map_lookup_elem(&exec_names, comm);
	if (!n) {
		// comm is the name run; the file may be a shell behind another name.
		char fname[COMM_LEN] = {};
		bpf_probe_read_kernel_str(fname, sizeof(fname), BPF_CORE_READ(d, d_name.name));
		n = bpf_map_lookup_elem(&exec_names, fname);
	}
	if (n && (*n & (N_SHELL | N_PKG_MGR)) && check_container(s, t, &flags, &cgid, 1)) {
		if (*n & N_SHELL)
			rules |= R_SHELL_IN_CONTAINER;
		if (*n & N_PKG_MGR)
			rules |= R_PKG_MGR_IN_CONTAINER;
	}
	rules &= enabled_rules & ~allowed_rules(comm);
	if (!rules)
		return 0;
	if (!(flags & (F_IN_CONTAINER | F_CONTAINER_UNKNOWN)))
		check_container(s, t, &flags, &cgid, 0);

	struct event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		count_lost(P_EXEC);
		return 0;
	}
	fill_task(ev, t);
	ev->kind = K_EXEC;
	ev->rules = rules;
	ev->flags = flags;
	ev->cgroup_id = cgid;
	ev->nr = 0;
	ev->arg0 = 0;
	ev->arg1 = 0;
	ev->arg2 = 0;
	__builtin_memset(ev->addr, 0, sizeof(ev->addr));
	bpf_probe_read_kernel(ev->path, PATH_LEN, s->exe);
	if (flags & F_IN_CONTAINER)
		bpf_probe_read_kernel(ev->cgroup, CGROUP_NAME_LEN, s->cgroup);
	else
		ev->cgroup[0] = 0;
	struct mm_struct *mm = BPF_CORE_READ(t, mm);
	unsigned long start = BPF_CORE_READ(mm, arg_start);
	unsigned long end = BPF_CORE_READ(mm, arg_end);
	__u32 alen = end > start ? end - start : 0;
	if (alen > ARGS_LEN)
		alen = ARGS_LEN;
	ev->arg0 = alen;
	ev->args[0] = 0;
	if (alen) {
		// The masks keep the size provably within [1, ARGS_LEN].
		__u32 n = ((alen - 1) & (ARGS_LEN - 1)) + 1;
		if (bpf_probe_read_user(ev->args, n, (void *)start) < 0)
			ev->arg0 = 0;
	}
	submit(ev);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(exec_btf, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return handle_exec(p, bprm);
}

SEC("raw_tp/sched_process_exec")
int BPF_PROG(exec_raw, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return handle_exec(p, bprm);
}

static __always_inline unsigned long sys_arg(struct pt_regs *regs, __u32 off)
{
	unsigned long v = 0;
	bpf_probe_read_kernel(&v, sizeof(v), (void *)regs + off);
	return v;
}

static __always_inline int handle_sys_enter(struct pt_regs *regs, long id)
{
	__u32 rule = 0;
	if (id == nr_openat || id == nr_open || id == nr_creat || id == nr_openat2)
		rule = R_SENSITIVE_FILE_WRITE;
	else if (id == nr_ptrace)
		rule = R_PTRACE_ATTACH;
	else if (id == nr_setuid || id == nr_setreuid || id == nr_setresuid)
		rule = R_SETUID_ROOT;
	else if (id == nr_setns || id == nr_unshare || id == nr_mount || id == nr_move_mount || id == nr_fsmount)
		rule = R_NAMESPACE_ESCAPE;
	else if (id == nr_bpf)
		rule = R_BPF_LOAD;
	else
		return 0;
	if (!(enabled_rules & rule))
		return 0;
	__u32 zero = 0;
	if ((bpf_get_current_pid_tgid() >> 32) == agent_tgid) {
		struct exe_id *self = bpf_map_lookup_elem(&self_exe, &zero);
		if (rule == R_BPF_LOAD && self && !self->set) {
			exe_identity((struct task_struct *)bpf_get_current_task(), self);
			self->set = 1;
		}
		return 0;
	}
	if (rule == R_BPF_LOAD) {
		struct task_struct *cur = (struct task_struct *)bpf_get_current_task();
		__u32 one = 1;
		struct exe_id *sib = bpf_map_lookup_elem(&self_exe, &one);
		if (sib && !sib->set && agent_tgid && BPF_CORE_READ(cur, real_parent, tgid) == agent_tgid) {
			exe_identity(cur, sib);
			sib->set = 1;
			return 0;
		}
	}

	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	__u32 a0 = 0, a1 = 0, a2 = 0, flags = 0;
	__u64 cgid = 0;
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	const char *upath = 0;

	if (rule == R_SENSITIVE_FILE_WRITE) {
		__u64 oflags;
		if (id == nr_openat) {
			upath = (const char *)sys_arg(regs, arg_off1);
			oflags = sys_arg(regs, arg_off2);
		} else if (id == nr_open) {
			upath = (const char *)sys_arg(regs, arg_off0);
			oflags = sys_arg(regs, arg_off1);
		} else if (id == nr_creat) {
			upath = (const char *)sys_arg(regs, arg_off0);
			oflags = O_CREAT | O_TRUNC | 1;
		} else {
			upath = (const char *)sys_arg(regs, arg_off1);
			bpf_probe_read_user(&oflags, sizeof(oflags), (void *)sys_arg(regs, arg_off2));
		}
		if ((oflags & O_ACCMODE) == 0 && !(oflags & (O_CREAT | O_TRUNC)))
			return 0;
		// Absolute paths only: a relative open of a sensitive file needs a
		// working directory inside /etc or /root, which an exec or shell
		// rule sees first.
		if (bpf_probe_read_user_str(s->str, PATH_LEN, upath) <= 0 || s->str[0] != '/')
			return 0;
		if (!match_path(s, 2))
			return 0;
		// Inside a container /etc/passwd is the container's own file.
		if (check_container(s, t, &flags, &cgid, 0))
			return 0;
		a0 = oflags;
	} else if (rule == R_PTRACE_ATTACH) {
		long req = sys_arg(regs, arg_off0);
		__u32 target = sys_arg(regs, arg_off1);
		if (req != PTRACE_ATTACH && req != PTRACE_SEIZE && req != PTRACE_POKETEXT &&
		    req != PTRACE_POKEDATA && req != PTRACE_POKEUSER)
			return 0;
		if (target == bpf_get_current_pid_tgid() >> 32)
			return 0;
		a0 = req;
		a1 = target;
	} else if (rule == R_SETUID_ROOT) {
		__u32 uid = BPF_CORE_READ(t, cred, uid.val);
		if (uid == 0)
			return 0;
		__u32 r = sys_arg(regs, arg_off0), e = (__u32)-1, sv = (__u32)-1;
		if (id == nr_setreuid || id == nr_setresuid)
			e = sys_arg(regs, arg_off1);
		if (id == nr_setresuid)
			sv = sys_arg(regs, arg_off2);
		if (r != 0 && e != 0 && sv != 0)
			return 0;
		// Only a call that can succeed gains root.
		__u32 euid = BPF_CORE_READ(t, cred, euid.val);
		__u64 caps;
		BPF_CORE_READ_INTO(&caps, t, cred, cap_effective);
		if (euid != 0 && !(caps & (1ull << CAP_SETUID)))
			return 0;
		a0 = r;
		a1 = e;
		a2 = sv;
	} else if (rule == R_NAMESPACE_ESCAPE) {
		if (!check_container(s, t, &flags, &cgid, 1))
			return 0;
		a0 = sys_arg(regs, arg_off0);
		a1 = sys_arg(regs, arg_off1);
		if (id == nr_mount)
			upath = (const char *)sys_arg(regs, arg_off1);
	} else if (rule == R_BPF_LOAD) {
		if (sys_arg(regs, arg_off0) != BPF_PROG_LOAD_CMD)
			return 0;
		struct exe_id *self = bpf_map_lookup_elem(&self_exe, &zero);
		if (!self || (self->set && exe_is(t, self)))
			return 0;
		__u32 one = 1;
		struct exe_id *sib = bpf_map_lookup_elem(&self_exe, &one);
		if (sib && sib->set && exe_is(t, sib))
			return 0;
		a0 = BPF_PROG_LOAD_CMD;
	}

	char comm[COMM_LEN] = {};
	bpf_get_current_comm(comm, sizeof(comm));
	if (allowed_rules(comm) & rule)
		return 0;
	if (!(flags & (F_IN_CONTAINER | F_CONTAINER_UNKNOWN)) && rule != R_SENSITIVE_FILE_WRITE)
		check_container(s, t, &flags, &cgid, 0);

	struct event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		count_lost(P_SYS_ENTER);
		return 0;
	}
	fill_task(ev, t);
	ev->kind = K_SYSCALL;
	ev->rules = rule;
	ev->flags = flags;
	ev->cgroup_id = cgid;
	ev->nr = id;
	ev->arg0 = a0;
	ev->arg1 = a1;
	ev->arg2 = a2;
	__builtin_memset(ev->addr, 0, sizeof(ev->addr));
	ev->args[0] = 0;
	if (flags & F_IN_CONTAINER)
		bpf_probe_read_kernel(ev->cgroup, CGROUP_NAME_LEN, s->cgroup);
	else
		ev->cgroup[0] = 0;
	if (rule == R_SENSITIVE_FILE_WRITE)
		bpf_probe_read_kernel(ev->path, PATH_LEN, s->str);
	else if (upath)
		bpf_probe_read_user_str(ev->path, PATH_LEN, upath);
	else
		ev->path[0] = 0;
	submit(ev);
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(sys_enter_btf, struct pt_regs *regs, long id)
{
	return handle_sys_enter(regs, id);
}

SEC("raw_tp/sys_enter")
int BPF_PROG(sys_enter_raw, struct pt_regs *regs, long id)
{
	return handle_sys_enter(regs, id);
}

static __always_inline int handle_listen(const struct sock *sk, int newstate)
{
	if (newstate != TCP_LISTEN || !(enabled_rules & R_UNEXPECTED_LISTENER))
		return 0;
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		count_lost(P_SOCK);
		return 0;
	}
	struct scratch *s = get_scratch();
	__u32 flags = 0;
	__u64 cgid = 0;
	fill_task(ev, t);
	ev->kind = K_LISTEN;
	ev->rules = R_UNEXPECTED_LISTENER;
	ev->cgroup[0] = 0;
	if (s && check_container(s, t, &flags, &cgid, 0) && (flags & F_IN_CONTAINER)) {
		bpf_probe_read_kernel(ev->cgroup, CGROUP_NAME_LEN, s->cgroup);
	}
	ev->flags = flags;
	ev->cgroup_id = cgid;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	ev->nr = 0;
	ev->arg0 = BPF_CORE_READ(sk, __sk_common.skc_num);
	ev->arg1 = family;
	ev->arg2 = BPF_CORE_READ(sk, sk_protocol);
	__builtin_memset(ev->addr, 0, sizeof(ev->addr));
	if (family == AF_INET)
		bpf_core_read(ev->addr, 4, &sk->__sk_common.skc_rcv_saddr);
	else if (family == AF_INET6)
		bpf_core_read(ev->addr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
	ev->path[0] = 0;
	ev->args[0] = 0;
	submit(ev);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(listen_btf, const struct sock *sk, int oldstate, int newstate)
{
	return handle_listen(sk, newstate);
}

SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(listen_raw, const struct sock *sk, int oldstate, int newstate)
{
	return handle_listen(sk, newstate);
}

static __always_inline int handle_module(struct module *mod)
{
	if (!(enabled_rules & R_KERNEL_MODULE_LOAD))
		return 0;
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		count_lost(P_MODULE);
		return 0;
	}
	fill_task(ev, t);
	ev->kind = K_MODULE;
	ev->rules = R_KERNEL_MODULE_LOAD;
	ev->flags = 0;
	ev->cgroup_id = 0;
	ev->nr = 0;
	ev->arg0 = 0;
	ev->arg1 = 0;
	ev->arg2 = 0;
	__builtin_memset(ev->addr, 0, sizeof(ev->addr));
	ev->cgroup[0] = 0;
	BPF_CORE_READ_STR_INTO(&ev->path, mod, name);
	ev->args[0] = 0;
	submit(ev);
	return 0;
}

SEC("tp_btf/module_load")
int BPF_PROG(module_btf, struct module *mod)
{
	return handle_module(mod);
}

SEC("raw_tp/module_load")
int BPF_PROG(module_raw, struct module *mod)
{
	return handle_module(mod);
}
