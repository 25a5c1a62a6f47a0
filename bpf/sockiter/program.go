package sockiter

import (
	"fmt"
	"math"

	"github.com/cilium/ebpf/asm"
)

// layout is what the program needs to know about this kernel's structures:
// the offsets a CO-RE loader would have relocated.
type layout struct {
	attachBTFID uint32 // FUNC bpf_iter_task_file

	ctxMeta, ctxTask, ctxFD, ctxFile int16 // struct bpf_iter__task_file
	metaSeq                          int16 // struct bpf_iter_meta
	fileInode                        int16 // struct file
	inodeMode, inodeIno              int16 // struct inode
	inodeInoSize                     asm.Size
	taskGroupLeader, taskThreadPid   int32 // struct task_struct
	pidLevel, pidNumbers             int32 // struct pid
	upidSize, upidNr                 int32 // struct upid
}

// readLayout looks up the layout in the kernel's BTF.
func readLayout(k *kernelBTF) (*layout, error) {
	var l layout
	keys := []typeKey{{kindFunc, "bpf_iter_task_file"}}
	for _, name := range []string{"bpf_iter__task_file", "bpf_iter_meta", "file", "inode", "task_struct", "pid", "upid"} {
		keys = append(keys, typeKey{kindStruct, name})
	}
	types, err := k.findAll(keys...)
	if err != nil {
		return nil, fmt.Errorf("%w (task_file iterators need Linux 5.8 or later)", err)
	}
	l.attachBTFID = types[keys[0]].id

	type want struct {
		member string
		size   uint32 // 0: any (a flexible array)
		off16  *int16
		off32  *int32
	}
	structs := []struct {
		name  string
		wants []want
	}{
		{"bpf_iter__task_file", []want{{"meta", 8, &l.ctxMeta, nil}, {"task", 8, &l.ctxTask, nil}, {"fd", 4, &l.ctxFD, nil}, {"file", 8, &l.ctxFile, nil}}},
		{"bpf_iter_meta", []want{{"seq", 8, &l.metaSeq, nil}}},
		{"file", []want{{"f_inode", 8, &l.fileInode, nil}}},
		{"inode", []want{{"i_mode", 2, &l.inodeMode, nil}}},
		{"task_struct", []want{{"group_leader", 8, nil, &l.taskGroupLeader}, {"thread_pid", 8, nil, &l.taskThreadPid}}},
		{"pid", []want{{"level", 4, nil, &l.pidLevel}, {"numbers", 0, nil, &l.pidNumbers}}},
		{"upid", []want{{"nr", 4, nil, &l.upidNr}}},
	}
	for _, s := range structs {
		t := types[typeKey{kindStruct, s.name}]
		for _, w := range s.wants {
			f, err := k.member(t, w.member)
			if err != nil {
				return nil, err
			}
			if w.size != 0 && f.size != w.size {
				return nil, fmt.Errorf("kernel BTF: %s.%s is %d bytes, want %d", s.name, w.member, f.size, w.size)
			}
			if w.off16 != nil {
				if f.offset > math.MaxInt16 {
					return nil, fmt.Errorf("kernel BTF: %s.%s at offset %d is out of reach", s.name, w.member, f.offset)
				}
				*w.off16 = int16(f.offset)
			} else {
				*w.off32 = int32(f.offset)
			}
		}
		switch s.name {
		case "inode":
			f, err := k.member(t, "i_ino")
			if err != nil {
				return nil, err
			}
			switch f.size {
			case 8:
				l.inodeInoSize = asm.DWord
			case 4:
				l.inodeInoSize = asm.Word
			default:
				return nil, fmt.Errorf("kernel BTF: inode.i_ino is %d bytes", f.size)
			}
			if f.offset > math.MaxInt16 {
				return nil, fmt.Errorf("kernel BTF: inode.i_ino at offset %d is out of reach", f.offset)
			}
			l.inodeIno = int16(f.offset)
		case "upid":
			l.upidSize = int32(t.sizeType)
		}
	}
	return &l, nil
}

// Stack slots of the program (r10 is the frame pointer).
const (
	stackRecord  = -16 // struct record { u32 pid; u32 fd; u64 ino; }, RecordSize bytes
	stackPID     = stackRecord
	stackFD      = stackRecord + 4
	stackIno     = stackRecord + 8
	stackScratch = -24 // 8 bytes for bpf_probe_read_kernel
)

// instructions assembles the iterator: for every open file of every task,
// if the file is a socket, write {pid, fd, inode} to the seq_file. pid is the
// owner's number in the reading task's PID namespace, the only processes the
// iterator visits: task->tgid would be the initial namespace's. It is the
// program a C source would compile to, with this kernel's offsets in place.
func (l *layout) instructions() asm.Instructions {
	const (
		ctx         = asm.R6
		task        = asm.R7
		file        = asm.R8 // then the owner's struct pid *
		ownerPID    = asm.R8
		readerLevel = asm.R9
	)
	var insns asm.Instructions
	add := func(is ...asm.Instruction) { insns = append(insns, is...) }
	// readField copies size bytes at base+off to the scratch slot with
	// bpf_probe_read_kernel, and gives up on a fault.
	readField := func(base asm.Register, off, size int32) {
		add(
			asm.Mov.Reg(asm.R3, base),
			asm.Add.Imm(asm.R3, off),
			asm.Mov.Reg(asm.R1, asm.RFP),
			asm.Add.Imm(asm.R1, stackScratch),
			asm.Mov.Imm(asm.R2, size),
			asm.FnProbeReadKernel.Call(),
			asm.JNE.Imm(asm.R0, 0, "out"),
		)
	}
	// loadScratch loads the pointer readField left in the scratch slot into
	// dst, and gives up on NULL.
	loadScratch := func(dst asm.Register) {
		add(
			asm.LoadMem(dst, asm.RFP, stackScratch, asm.DWord),
			asm.JEq.Imm(dst, 0, "out"),
		)
	}

	add(
		asm.Mov.Reg(ctx, asm.R1),
		// task and file are NULL once, at the end of the iteration.
		asm.LoadMem(task, ctx, l.ctxTask, asm.DWord),
		asm.JEq.Imm(task, 0, "out"),
		asm.LoadMem(file, ctx, l.ctxFile, asm.DWord),
		asm.JEq.Imm(file, 0, "out"),
		// Only sockets: inode->i_mode & S_IFMT == S_IFSOCK.
		asm.LoadMem(asm.R1, file, l.fileInode, asm.DWord),
		asm.JEq.Imm(asm.R1, 0, "out"),
		asm.LoadMem(asm.R2, asm.R1, l.inodeMode, asm.Half),
		asm.And.Imm(asm.R2, 0o170000),
		asm.JNE.Imm(asm.R2, 0o140000, "out"),
		asm.LoadMem(asm.R2, asm.R1, l.inodeIno, l.inodeInoSize),
		asm.StoreMem(asm.RFP, stackIno, asm.R2, asm.DWord),
		asm.LoadMem(asm.R2, ctx, l.ctxFD, asm.Word),
		asm.StoreMem(asm.RFP, stackFD, asm.R2, asm.Word),

		// The reader's PID namespace level: current->thread_pid->level.
		asm.FnGetCurrentTask.Call(),
	)
	readField(asm.R0, l.taskThreadPid, 8)
	loadScratch(asm.R3)
	readField(asm.R3, l.pidLevel, 4)
	add(asm.LoadMem(readerLevel, asm.RFP, stackScratch, asm.Word))

	// The owner's struct pid: task->group_leader->thread_pid.
	readField(task, l.taskGroupLeader, 8)
	loadScratch(asm.R3)
	readField(asm.R3, l.taskThreadPid, 8)
	loadScratch(ownerPID)
	readField(ownerPID, l.pidLevel, 4)
	add(
		// A process of an outer namespace has no number in the reader's.
		asm.LoadMem(asm.R2, asm.RFP, stackScratch, asm.Word),
		asm.JLT.Reg(asm.R2, readerLevel, "out"),
		// pid->numbers[readerLevel].nr
		asm.Mov.Reg(asm.R3, readerLevel),
		asm.Mul.Imm(asm.R3, l.upidSize),
		asm.Add.Reg(asm.R3, ownerPID),
		asm.Add.Imm(asm.R3, l.pidNumbers+l.upidNr),
		asm.Mov.Reg(asm.R1, asm.RFP),
		asm.Add.Imm(asm.R1, stackPID),
		asm.Mov.Imm(asm.R2, 4),
		asm.FnProbeReadKernel.Call(),
		asm.JNE.Imm(asm.R0, 0, "out"),

		// bpf_seq_write(ctx->meta->seq, &record, sizeof(record))
		asm.LoadMem(asm.R1, ctx, l.ctxMeta, asm.DWord),
		asm.LoadMem(asm.R1, asm.R1, l.metaSeq, asm.DWord),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, stackRecord),
		asm.Mov.Imm(asm.R3, RecordSize),
		asm.FnSeqWrite.Call(),

		asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
		asm.Return(),
	)
	return insns
}
