// SPDX-License-Identifier: GPL-2.0
// nodeguard socket-owner iterator: one fixed-size record per open file that is
// a socket, for every process visible in the reader's PID namespace. It
// replaces readlink on every /proc/<pid>/fd entry (each of which makes procfs
// build and free a dentry and an inode) with one seq_file read.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

#define S_IFMT 00170000
#define S_IFSOCK 0140000

// Decoded by sockiter.Decode; keep both in step.
struct sock_fd {
	__u32 pid;
	__u32 fd;
	__u64 ino;
};

SEC("iter/task_file")
int socket_fds(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	if (!task || !file)
		return 0;
	struct inode *inode = BPF_CORE_READ(file, f_inode);
	if (!inode)
		return 0;
	umode_t mode = BPF_CORE_READ(inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return 0;

	// task->tgid is the number in the initial PID namespace; the reader (the
	// current task: iterators run in its read()) knows processes by the
	// numbers of its own namespace, which the iterator is limited to.
	struct task_struct *reader = (struct task_struct *)bpf_get_current_task();
	unsigned int level = BPF_CORE_READ(reader, thread_pid, level);
	struct pid *pid = BPF_CORE_READ(task, group_leader, thread_pid);
	if (!pid || BPF_CORE_READ(pid, level) < level)
		return 0;
	struct upid up;
	if (bpf_core_read(&up, sizeof(up), &pid->numbers[level]))
		return 0;
	struct sock_fd rec = {.pid = up.nr, .fd = ctx->fd, .ino = BPF_CORE_READ(inode, i_ino)};
	bpf_seq_write(ctx->meta->seq, &rec, sizeof(rec));
	return 0;
}
