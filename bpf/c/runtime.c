// SPDX-License-Identifier: GPL-2.0
// nodeguard runtime anomaly detection. Only tracepoint-class hooks (tp_btf and
// raw_tp) are used: hardened kernels refuse kprobes, fentry and BPF LSM. Every
// handler has a tp_btf and a raw_tp entry point sharing one body; all reads go
// through BPF_CORE_READ so the body is valid for both, and the loader picks the
// first the kernel accepts. Filtering happens here: only events that match a
// rule reach the ring buffer, and they are submitted without a wake-up unless
// the buffer fills past a threshold (a wake-up per event costs more than the
// event itself).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

// Rule bits; the order is the Rule enum in agent/runtime/rules.go.
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
#define MAX_PREFIXES 32
#define PATH_BUF 4096
#define PATH_MASK (PATH_BUF - 1)
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

struct prefix {
	__u32 len;
	char s[PREFIX_LEN];
};

// Set by the loader before the programs are loaded.
volatile const __u32 enabled_rules = 0;
volatile const __u64 wake_bytes = 65536;
volatile const __s32 nr_open = -1, nr_openat = -1, nr_openat2 = -1, nr_creat = -1;
volatile const __s32 nr_ptrace = -1, nr_setuid = -1, nr_setreuid = -1, nr_setresuid = -1;
volatile const __s32 nr_setns = -1, nr_unshare = -1, nr_mount = -1, nr_move_mount = -1, nr_fsmount = -1;
volatile const __s32 nr_bpf = -1;
// The agent's own process: its program loads and reads are not events.
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

// Path prefixes; an entry ending in '/' matches a directory's contents, any
// other entry matches exactly.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_PREFIXES);
	__type(key, __u32);
	__type(value, struct prefix);
} writable_dirs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_PREFIXES);
	__type(key, __u32);
	__type(value, struct prefix);
} sensitive_paths SEC(".maps");

struct scratch {
	char path[PATH_BUF * 2];
	char str[PATH_LEN];
	char exe[PATH_LEN];
	char cgroup[CGROUP_NAME_LEN];
	__u64 cgid;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

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

static __always_inline int is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static __always_inline int has_prefix(const char *s, const char *p, int n)
{
	for (int i = 0; i < n; i++)
		if (s[i] != p[i])
			return 0;
	return 1;
}

// A container's cgroup is named after its 64-hex id, bare (cgroupfs driver)
// or behind a runtime prefix (systemd driver): cri-containerd-, crio-,
// docker-, libpod-.
static __always_inline int container_name(const char *name)
{
	int skip = 0;
	if (has_prefix(name, "cri-containerd-", 15))
		skip = 15;
	else if (has_prefix(name, "crio-", 5))
		skip = 5;
	else if (has_prefix(name, "docker-", 7))
		skip = 7;
	else if (has_prefix(name, "libpod-", 7))
		skip = 7;
	for (int i = 0; i < 64; i++)
		if (!is_hex(name[(skip + i) & (CGROUP_NAME_LEN - 1)]))
			return 0;
	char end = name[(skip + 64) & (CGROUP_NAME_LEN - 1)];
	return end == 0 || end == '.';
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

struct walk {
	struct dentry *d;
	struct mount *mnt;
	struct scratch *s;
	__u32 off;
	int cut;
};

// walk_step adds one path component, or crosses one mount point.
static long walk_step(__u64 i, void *arg)
{
	struct walk *w = arg;
	struct scratch *s = w->s;
	if (!s)
		return 1;
	struct dentry *d = w->d;
	struct mount *mnt = w->mnt;
	struct dentry *mnt_root = BPF_CORE_READ(mnt, mnt.mnt_root);
	struct dentry *parent = BPF_CORE_READ(d, d_parent);
	if (d == mnt_root || d == parent) {
		struct mount *up = BPF_CORE_READ(mnt, mnt_parent);
		if (d != mnt_root || up == mnt)
			return 1;
		w->d = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = up;
		return 0;
	}
	__u32 len = BPF_CORE_READ(d, d_name.len);
	const unsigned char *name = BPF_CORE_READ(d, d_name.name);
	if (len > 255)
		len = 255;
	__u32 off = w->off;
	if (off <= len + 1 || off >= PATH_BUF) {
		w->cut = 1;
		return 1;
	}
	off -= len;
	bpf_probe_read_kernel(&s->path[off & PATH_MASK], len & 255, name);
	off -= 1;
	s->path[off & PATH_MASK] = '/';
	w->off = off;
	w->d = parent;
	return 0;
}

// build_path writes the path of (dentry, vfsmount) to s->exe, like d_path
// relative to the global root, walking at most MAX_COMPONENTS components
// (bpf_loop, so the verifier checks one step, not every path through all).
// It assembles the path backwards in s->path. Returns 1 when the path was cut.
static __always_inline int build_path(struct scratch *s, struct dentry *d, struct vfsmount *vm)
{
	struct walk w = {
		.d = d,
		.mnt = (void *)vm - bpf_core_field_offset(struct mount, mnt),
		.s = s,
		.off = PATH_BUF - 1,
	};
	s->path[PATH_BUF - 1] = 0;
	long n = bpf_loop(MAX_COMPONENTS, walk_step, &w, 0);
	if (n >= MAX_COMPONENTS)
		w.cut = 1;
	__u32 off = w.off;
	if (off >= PATH_BUF - 1) {
		off = PATH_BUF - 2;
		s->path[off] = '/';
	}
	if (PATH_BUF - 1 - off >= PATH_LEN)
		w.cut = 1;
	bpf_probe_read_kernel(s->exe, PATH_LEN, &s->path[off & PATH_MASK]);
	s->exe[PATH_LEN - 1] = 0;
	return w.cut;
}

// match_path reports whether s->str (which == 0, 2) or s->exe (1, 3)
// matches an entry of writable_dirs (which < 2) or sensitive_paths.
__noinline int match_path(struct scratch *s, __u32 which)
{
	if (!s)
		return 0;
	void *table = which < 2 ? (void *)&writable_dirs : (void *)&sensitive_paths;
	const char *str = (which & 1) ? s->exe : s->str;
	for (__u32 i = 0; i < MAX_PREFIXES; i++) {
		__u32 key = i;
		struct prefix *p = bpf_map_lookup_elem(table, &key);
		if (!p || p->len == 0 || p->len >= PREFIX_LEN)
			return 0;
		int ok = 1;
		for (int j = 0; j < PREFIX_LEN; j++) {
			if (j >= p->len)
				break;
			if (str[j] != p->s[j]) {
				ok = 0;
				break;
			}
		}
		if (!ok)
			continue;
		// A directory entry ends in '/'; a file entry must end here.
		if (p->s[(p->len - 1) & (PREFIX_LEN - 1)] == '/' || str[p->len & (PREFIX_LEN - 1)] == 0)
			return 1;
	}
	return 0;
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
static __always_inline int check_container(struct scratch *s, struct task_struct *t, __u32 *flags, __u64 *cgid)
{
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
	char head[8] = {};
	const unsigned char *dname = BPF_CORE_READ(d, d_name.name);
	bpf_probe_read_kernel(head, 6, dname);
	if (has_prefix(head, "memfd:", 6) && BPF_CORE_READ(d, d_parent) == d) {
		flags |= F_MEMFD | F_DELETED;
		bpf_probe_read_kernel_str(s->exe, PATH_LEN, dname);
	} else {
		if (!BPF_CORE_READ(d, d_hash.pprev) && BPF_CORE_READ(d, d_parent) != d)
			flags |= F_DELETED;
		if (build_path(s, d, vm))
			flags |= F_PATH_TRUNCATED;
	}
	if (flags & (F_DELETED | F_MEMFD))
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
	if (n && (*n & (N_SHELL | N_PKG_MGR)) && check_container(s, t, &flags, &cgid)) {
		if (*n & N_SHELL)
			rules |= R_SHELL_IN_CONTAINER;
		if (*n & N_PKG_MGR)
			rules |= R_PKG_MGR_IN_CONTAINER;
	}
	rules &= enabled_rules & ~allowed_rules(comm);
	if (!rules)
		return 0;
	if (!(flags & F_IN_CONTAINER))
		check_container(s, t, &flags, &cgid);

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
	if (!(enabled_rules & rule) || (bpf_get_current_pid_tgid() >> 32) == agent_tgid)
		return 0;

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
		if (check_container(s, t, &flags, &cgid))
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
		if (!check_container(s, t, &flags, &cgid))
			return 0;
		a0 = sys_arg(regs, arg_off0);
		a1 = sys_arg(regs, arg_off1);
		if (id == nr_mount)
			upath = (const char *)sys_arg(regs, arg_off1);
	} else if (rule == R_BPF_LOAD) {
		if (sys_arg(regs, arg_off0) != BPF_PROG_LOAD_CMD)
			return 0;
		a0 = BPF_PROG_LOAD_CMD;
	}

	char comm[COMM_LEN] = {};
	bpf_get_current_comm(comm, sizeof(comm));
	if (allowed_rules(comm) & rule)
		return 0;
	if (!(flags & F_IN_CONTAINER) && rule != R_SENSITIVE_FILE_WRITE)
		check_container(s, t, &flags, &cgid);

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
	if (s && check_container(s, t, &flags, &cgid)) {
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
