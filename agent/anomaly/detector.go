package anomaly

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/nodeguard/nodeguard/bpf"
	"github.com/nodeguard/nodeguard/bpf/identity"
	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/hostfs"
	"github.com/nodeguard/nodeguard/probes/model/policy"
	"github.com/nodeguard/nodeguard/probes/ports"
)

// hook is one kernel attachment point. Its program is tried in each variant,
// full first, and in each variant as tp_btf first, then raw_tp.
type hook int

const (
	hookExec hook = iota
	hookSysEnter
	hookListen
	hookModule
	numHooks
)

var hooks = [numHooks]struct {
	name       string // the `program` label of the lost-event counter
	tracepoint string
	programs   [2]string // tp_btf, raw_tp
}{
	hookExec:     {"exec", "sched_process_exec", [2]string{"exec_btf", "exec_raw"}},
	hookSysEnter: {"sys_enter", "sys_enter", [2]string{"sys_enter_btf", "sys_enter_raw"}},
	hookListen:   {"inet_sock_set_state", "inet_sock_set_state", [2]string{"listen_btf", "listen_raw"}},
	hookModule:   {"module_load", "module_load", [2]string{"module_btf", "module_raw"}},
}

// A variant is one build of a hook's program, chosen by the BPF object's
// `features` constant. The full variant decides container membership and the
// executable's path in the kernel; the simple one leaves container membership
// to user space (cgroup id and /proc) and takes the path exec was given, for
// kernels whose verifier refuses the full one. Both serve every rule.
type variant struct {
	name     string
	features uint32
}

// Features of the BPF object (FEAT_* in bpf/c/runtime.c).
const (
	featKernelContainer = 1 << 0
	featPathWalk        = 1 << 1
)

var variants = []variant{
	{"full", featKernelContainer | featPathWalk},
	{"simple", 0},
}

var selfPID = os.Getpid()

// Defaults of Options.
const (
	DefaultRingBufferBytes = 1 << 20
	DefaultPollInterval    = 100 * time.Millisecond
	DefaultProcCacheSize   = 32768
)

// Options configure a Detector.
type Options struct {
	Root   *hostfs.Root
	Policy *policy.Policy
	// Role is the node's role for unexpected-listener; nil means worker.
	Role           func() probes.Role
	AgentListeners []probes.Listener
	// Pods names the pod of a container; nil leaves pods out.
	Pods PodResolver
	Log  zerolog.Logger
	// RingBufferBytes is a power of two of at least a page.
	RingBufferBytes int
	// PollInterval bounds how long an event waits in the ring buffer: the
	// programs wake the reader only when the buffer fills past a quarter.
	PollInterval  time.Duration
	ProcCacheSize int
	// Sibling is an executable to trust as the agent's own: the light
	// nodeguard beside the agent's binary. The agent starts it once with
	// identity.Command after the syscall hook attaches, so that the kernel
	// records its executable; "" trusts no other file.
	Sibling string

	// rawTracepointsOnly skips tp_btf, to test the fallback kernels
	// without BTF for tracepoints take.
	rawTracepointsOnly bool
	// onlyVariant loads only the named variant, to test the fallback that
	// kernels refusing the full programs take.
	onlyVariant string
	// loadGate, when set, holds the loader before each hook until it can
	// receive, to test a detector that is still loading.
	loadGate chan struct{}
}

// RuleStatus says whether a rule runs on this kernel.
type RuleStatus struct {
	Rule    Rule
	Active  bool
	Enabled bool
	// Reason explains an inactive rule.
	Reason string
}

// HookStatus says how a hook attached, or why it did not.
type HookStatus struct {
	Name string
	// Loading is true until the hook's programs have been tried.
	Loading  bool
	Attached string // "tp_btf" or "raw_tp"; empty when not attached
	Variant  string // "full" or "simple"; empty when not attached
	// Insns is the verifier's count of processed instructions for the
	// attached program (0 where the kernel does not report it).
	Insns uint32
	// Attempts are the programs tried, in order, refused ones included.
	Attempts []Attempt
	Err      error
}

// Attempt is one program the loader tried.
type Attempt struct {
	Program, Variant, Attach string
	Insns                    uint32
	Duration                 time.Duration
	// Err is why the kernel refused it; VerifierTail the verifier's last
	// lines when the verifier was the one.
	Err          error
	VerifierTail []string
}

// CountKey labels the event counter.
type CountKey struct {
	Rule, Severity, Namespace string
}

// Detector runs the BPF programs and turns their records into Events.
type Detector struct {
	log      zerolog.Logger
	maps     bpf.RuntimeMaps
	reader   *ringbuf.Reader
	judge    *judge
	pol      *Policy
	poll     time.Duration
	done     chan struct{}
	loaded   chan struct{}
	nsLabel  bool
	stopOnce sync.Once

	mu        sync.Mutex
	closed    bool
	links     []link.Link
	progs     []*ebpf.Program
	hooks     [numHooks]HookStatus
	rules     []RuleStatus
	counts    map[CountKey]uint64
	subs      map[int]chan Event
	nextSub   int
	subDrops  uint64
	decodeErr uint64
	err       error
}

// Start creates the maps and the ring buffer reader, then loads and attaches
// the programs in the background: the verifier may take long on some kernels,
// and the agent must answer /healthz and honour SIGTERM meanwhile. Loaded is
// closed when every hook has been tried; Rules and Hooks say how far it got.
// Start fails only when eBPF cannot be used at all (not root, no BTF); hooks
// the kernel refuses are reported as unsupported rules instead.
func Start(ctx context.Context, o Options) (*Detector, error) {
	if o.RingBufferBytes == 0 {
		o.RingBufferBytes = DefaultRingBufferBytes
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.ProcCacheSize <= 0 {
		o.ProcCacheSize = DefaultProcCacheSize
	}
	pol := policy.Section[Policy](o.Policy, PolicySection)
	spec, err := bpf.LoadRuntime()
	if err != nil {
		return nil, fmt.Errorf("runtime: reading the BPF object: %w", err)
	}
	if err := configure(spec, pol, o.RingBufferBytes); err != nil {
		return nil, err
	}
	d := &Detector{
		log: o.Log, pol: pol, poll: o.PollInterval, done: make(chan struct{}), loaded: make(chan struct{}),
		nsLabel: pol.NamespaceLabel, counts: map[CountKey]uint64{}, subs: map[int]chan Event{},
	}
	if err := spec.LoadAndAssign(&d.maps, nil); err != nil {
		return nil, fmt.Errorf("runtime: creating BPF maps (nodeguard needs root, or CAP_BPF and CAP_PERFMON): %w", err)
	}
	if err := fillMaps(&d.maps, pol); err != nil {
		d.maps.Close()
		return nil, err
	}
	replace := map[string]*ebpf.Map{
		"events": d.maps.Events, "lost": d.maps.Lost, "exec_names": d.maps.ExecNames, "allow_comm": d.maps.AllowComm,
		"writable_dirs": d.maps.WritableDirs, "sensitive_paths": d.maps.SensitivePaths, "scratch_map": d.maps.ScratchMap,
		"self_exe": d.maps.SelfExe,
	}
	// The reader exists before any program runs, so nothing is missed
	// between attaching and reading.
	if d.reader, err = ringbuf.NewReader(d.maps.Events); err != nil {
		d.maps.Close()
		return nil, fmt.Errorf("runtime: ring buffer reader: %w", err)
	}
	for h := range hooks {
		d.hooks[h] = HookStatus{Name: hooks[h].name, Loading: true}
	}
	d.rules = ruleStatus(pol, &d.hooks)

	var ps *ports.Policy
	func() {
		defer func() { recover() }() // the ports probe may not be linked in
		ps = policy.Section[ports.Policy](o.Policy, ports.Name)
	}()
	procs := newProcCache(o.Root, o.ProcCacheSize)
	if o.Root != nil {
		if err := procs.seed(); err != nil {
			o.Log.Warn().Err(err).Msg("process cache: cannot read /proc; parent chains will be partial")
		}
	} else {
		procs = nil
	}
	nums := map[uint32]string{}
	for name, nr := range syscallNumbers {
		if nr >= 0 {
			nums[uint32(nr)] = name
		}
	}
	d.judge = &judge{
		pol: pol, ports: ps, role: o.Role, agentListeners: o.AgentListeners, procs: procs,
		pods: o.Pods, syscalls: nums, bootTime: bootTime(), cgroups: newCgroupIndex(o.Root),
	}
	go d.read()
	go d.load(spec, replace, o)
	go func() {
		select {
		case <-ctx.Done():
			d.Close()
		case <-d.done:
		}
	}()
	return d, nil
}

// load tries every hook in turn; the hooks are independent, so one that the
// kernel refuses costs only the rules that need it.
func (d *Detector) load(spec *ebpf.CollectionSpec, replace map[string]*ebpf.Map, o Options) {
	defer close(d.loaded)
	// sys_enter first: once it runs, the agent's next bpf() call tells the
	// kernel which executable is the agent's (self_exe), before any other
	// hook is loaded.
	order := []hook{hookSysEnter, hookExec, hookListen, hookModule}
	for _, h := range order {
		if o.loadGate != nil {
			<-o.loadGate
		}
		if d.isClosed() {
			return
		}
		st := d.attach(spec, h, replace, o)
		if st.Attached != "" && h == hookSysEnter {
			var id bpf.RuntimeExeId
			d.maps.SelfExe.Lookup(uint32(0), &id) // any bpf() call of the agent records it
			d.trustSibling(o.Sibling)
		}
		d.mu.Lock()
		d.hooks[h] = st
		d.rules = ruleStatus(d.pol, &d.hooks)
		d.mu.Unlock()
		d.logHook(st)
	}
	if !d.anyAttached() {
		err := fmt.Errorf("runtime: no BPF program could be attached: %w", d.Hooks()[hookExec].Err)
		d.mu.Lock()
		if d.err == nil {
			d.err = err
		}
		d.mu.Unlock()
		d.log.Error().Err(err).Msg("eBPF runtime detection unavailable; every rule reports nodeguard_bpf_rule_active 0")
	}
}

// trustSibling has the kernel record the sibling's executable in slot 1 of
// self_exe (the first bpf() call of a child of the agent), then locks the
// slot, so that no later child can take it; without a sibling it only locks.
func (d *Detector) trustSibling(path string) {
	var id bpf.RuntimeExeId
	if path != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := exec.CommandContext(ctx, path, identity.Command).CombinedOutput()
		cancel()
		if err == nil && d.maps.SelfExe.Lookup(uint32(1), &id) == nil && id.Set == 1 {
			d.log.Debug().Str("executable", path).Msg("the kernel knows the light nodeguard as the agent's own")
			return
		}
		d.log.Warn().Err(err).Str("executable", path).Bytes("output", out).
			Msg("could not announce the light nodeguard to the runtime rules: its BPF loads (nodeguard scan) will raise bpf-load")
	}
	// The agent has no other children: nothing can take the slot between
	// this read and the write.
	if err := d.maps.SelfExe.Lookup(uint32(1), &id); err == nil && id.Set == 1 {
		return
	}
	id = bpf.RuntimeExeId{Set: 1} // no file has inode 0: nothing matches
	if err := d.maps.SelfExe.Update(uint32(1), &id, ebpf.UpdateAny); err != nil {
		d.log.Debug().Err(err).Msg("locking the sibling slot of self_exe")
	}
}

// logHook says how a hook attached, and why any variant before it was refused.
func (d *Detector) logHook(st HookStatus) {
	for _, a := range st.Attempts {
		if a.Err == nil {
			continue
		}
		ev := d.log.Warn()
		if st.Attached != "" {
			ev = d.log.Info() // a later variant serves the hook
		}
		ev.Str("hook", st.Name).Str("program", a.Program).Str("variant", a.Variant).Err(a.Err)
		if len(a.VerifierTail) > 0 {
			ev.Strs("verifier", a.VerifierTail)
		}
		ev.Msg("the kernel refused a BPF program")
	}
	if st.Attached != "" {
		d.log.Debug().Str("hook", st.Name).Str("attach", st.Attached).Str("variant", st.Variant).
			Uint32("insns", st.Insns).Msg("BPF program attached")
	}
}

func (d *Detector) isClosed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed
}

// Loaded is closed once every hook has been tried.
func (d *Detector) Loaded() <-chan struct{} { return d.loaded }

// Loading names the hooks whose programs are still being loaded.
func (d *Detector) Loading() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, h := range d.hooks {
		if h.Loading {
			out = append(out, h.Name)
		}
	}
	return out
}

// bootTime is the wall-clock time of monotonic zero, which bpf_ktime_get_ns
// counts from.
func bootTime() time.Time {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return time.Now()
	}
	return time.Now().Add(-time.Duration(ts.Nano()))
}

func configure(spec *ebpf.CollectionSpec, pol *Policy, ringBytes int) error {
	if ringBytes < os.Getpagesize() || ringBytes&(ringBytes-1) != 0 {
		return fmt.Errorf("runtime: ring buffer size %d: want a power of two of at least %d", ringBytes, os.Getpagesize())
	}
	spec.Maps["events"].MaxEntries = uint32(ringBytes)
	var size uint32
	if err := spec.Variables["event_size"].Get(&size); err != nil || size != EventSize {
		return fmt.Errorf("runtime: BPF event is %d bytes, the decoder expects %d: regenerate bpf/", size, EventSize)
	}
	set := map[string]any{
		"enabled_rules": pol.enabledMask(),
		"features":      uint32(featKernelContainer | featPathWalk),
		"wake_bytes":    uint64(ringBytes / 4),
		"agent_tgid":    uint32(selfPID),
		"arg_off0":      argOffsets[0], "arg_off1": argOffsets[1], "arg_off2": argOffsets[2], "arg_off3": argOffsets[3],
	}
	for name, nr := range syscallNumbers {
		set["nr_"+name] = nr
	}
	for name, v := range set {
		vs, ok := spec.Variables[name]
		if !ok {
			return fmt.Errorf("runtime: BPF object lacks variable %s: regenerate bpf/", name)
		}
		if err := vs.Set(v); err != nil {
			return fmt.Errorf("runtime: setting %s: %w", name, err)
		}
	}
	return nil
}

func commKey(s string) [commLen + 1]byte {
	var k [commLen + 1]byte
	copy(k[:commLen], s)
	return k
}

// pathKey is s as a key of the kernel's path tries: a directory ("/tmp/")
// matches what lies below it, a file only itself, so a file's key takes its
// terminating NUL along.
func pathKey(s string) bpf.RuntimePathKey {
	var k bpf.RuntimePathKey
	n := len(s)
	if !strings.HasSuffix(s, "/") {
		n++
	}
	k.Prefixlen = uint32(8 * min(n, len(k.S)))
	for i := 0; i < len(s) && i < len(k.S); i++ {
		k.S[i] = int8(s[i])
	}
	return k
}

func fillMaps(m *bpf.RuntimeMaps, pol *Policy) error {
	names := map[string]uint32{}
	for _, s := range pol.Shells {
		names[s] |= 1
	}
	for _, s := range pol.PackageManagers {
		names[s] |= 2
	}
	for n, v := range names {
		if err := m.ExecNames.Put(commKey(n), v); err != nil {
			return fmt.Errorf("runtime: exec_names: %w", err)
		}
	}
	for n, v := range pol.commAllowlist() {
		if err := m.AllowComm.Put(commKey(n), v); err != nil {
			return fmt.Errorf("runtime: allow_comm: %w", err)
		}
	}
	for _, t := range []struct {
		m    *ebpf.Map
		list []string
	}{{m.WritableDirs, pol.WritableDirs}, {m.SensitivePaths, pol.SensitivePaths}} {
		for _, s := range t.list {
			if err := t.m.Put(pathKey(s), uint32(1)); err != nil {
				return fmt.Errorf("runtime: path table: %w", err)
			}
		}
	}
	return nil
}

// attach loads one hook's program and attaches it: the full variant first,
// each as tp_btf where the kernel has BTF for the tracepoint, raw_tp
// otherwise. A variant the verifier refuses is not tried as raw_tp: the body
// is the same.
func (d *Detector) attach(spec *ebpf.CollectionSpec, h hook, replace map[string]*ebpf.Map, o Options) HookStatus {
	st := HookStatus{Name: hooks[h].name}
	var errs []error
	for _, v := range hookVariants(h) {
		if o.onlyVariant != "" && v.name != o.onlyVariant && h != hookModule {
			continue
		}
		for i, name := range hooks[h].programs {
			if o.rawTracepointsOnly && i == 0 {
				continue
			}
			if d.isClosed() {
				st.Err = errors.New("detector closed while loading")
				return st
			}
			a := Attempt{Program: name, Variant: v.name, Attach: [2]string{"tp_btf", "raw_tp"}[i]}
			prog, l, err := loadProgram(spec, name, v, replace, i == 0, hooks[h].tracepoint, &a)
			st.Attempts = append(st.Attempts, a)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s (%s): %w", name, v.name, err))
				if a.VerifierTail != nil {
					break
				}
				continue
			}
			d.mu.Lock()
			closed := d.closed
			if !closed {
				d.links = append(d.links, l)
				d.progs = append(d.progs, prog)
			}
			d.mu.Unlock()
			if closed {
				l.Close()
				prog.Close()
				st.Err = errors.New("detector closed while loading")
				return st
			}
			st.Attached, st.Variant, st.Insns = a.Attach, v.name, a.Insns
			return st
		}
	}
	st.Err = errors.Join(errs...)
	return st
}

// hookVariants lists the variants worth trying for h: the module hook uses
// neither feature, so its simple variant would be the same program.
func hookVariants(h hook) []variant {
	if h == hookModule {
		return variants[:1]
	}
	return variants
}

// loadProgram loads one program of spec in variant v and attaches it,
// recording the verifier's figures in a.
func loadProgram(spec *ebpf.CollectionSpec, name string, v variant, replace map[string]*ebpf.Map,
	tpBTF bool, tracepoint string, a *Attempt) (*ebpf.Program, link.Link, error) {
	one := spec.Copy()
	for p := range one.Programs {
		if p != name {
			delete(one.Programs, p)
		}
	}
	if err := one.Variables["features"].Set(v.features); err != nil {
		return nil, nil, err
	}
	start := time.Now()
	coll, err := ebpf.NewCollectionWithOptions(one, ebpf.CollectionOptions{MapReplacements: replace})
	a.Duration = time.Since(start)
	if err != nil {
		a.Err = err
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			a.VerifierTail = tail(ve.Log, 4)
			if a.VerifierTail == nil {
				a.VerifierTail = []string{}
			}
		}
		return nil, nil, err
	}
	prog := coll.DetachProgram(name)
	coll.Close()
	if info, err := prog.Info(); err == nil {
		if n, ok := info.VerifiedInstructions(); ok {
			a.Insns = n
		}
	}
	var l link.Link
	if tpBTF {
		l, err = link.AttachTracing(link.TracingOptions{Program: prog, AttachType: ebpf.AttachTraceRawTp})
	} else {
		l, err = link.AttachRawTracepoint(link.RawTracepointOptions{Name: tracepoint, Program: prog})
	}
	if err != nil {
		prog.Close()
		a.Err = fmt.Errorf("attaching: %w", err)
		return nil, nil, a.Err
	}
	return prog, l, nil
}

func tail(lines []string, n int) []string {
	var out []string
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}

func (d *Detector) anyAttached() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, h := range d.hooks {
		if h.Attached != "" {
			return true
		}
	}
	return false
}

func ruleStatus(pol *Policy, hs *[numHooks]HookStatus) []RuleStatus {
	var out []RuleStatus
	for _, r := range Rules() {
		st := RuleStatus{Rule: r, Enabled: pol.Rule(r).IsEnabled()}
		var missing []string
		for _, h := range rules[r].hooks {
			if hs[h].Attached != "" {
				st.Active = true
			} else {
				missing = append(missing, hooks[h].tracepoint)
			}
		}
		loading := false
		for _, h := range rules[r].hooks {
			loading = loading || hs[h].Loading
		}
		switch {
		case !st.Enabled:
			st.Active, st.Reason = false, "disabled by policy"
		case !st.Active && loading:
			st.Reason = "loading"
		case !st.Active && r == KernelModuleLoad:
			st.Reason = "unsupported: the kernel has no module support (no module_load tracepoint)"
		case !st.Active:
			st.Reason = fmt.Sprintf("unsupported: the kernel refused the %v tracepoint", missing)
		}
		out = append(out, st)
	}
	return out
}

// Rules reports every rule's state on this kernel.
func (d *Detector) Rules() []RuleStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]RuleStatus(nil), d.rules...)
}

// Hooks reports how each hook attached.
func (d *Detector) Hooks() []HookStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]HookStatus(nil), d.hooks[:]...)
}

// Lost returns the events each program could not submit because the ring
// buffer was full, summed over CPUs.
func (d *Detector) Lost() (map[string]uint64, error) {
	out := map[string]uint64{}
	for h := range hooks {
		var per []uint64
		if err := d.maps.Lost.Lookup(uint32(h), &per); err != nil {
			return nil, fmt.Errorf("runtime: reading lost counters: %w", err)
		}
		var n uint64
		for _, v := range per {
			n += v
		}
		out[hooks[h].name] = n
	}
	return out, nil
}

// Counts returns the number of events per rule and severity (and namespace
// when the policy's namespaceLabel is on).
func (d *Detector) Counts() map[CountKey]uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[CountKey]uint64, len(d.counts))
	for k, v := range d.counts {
		out[k] = v
	}
	return out
}

// NamespaceLabel reports whether counts carry the namespace.
func (d *Detector) NamespaceLabel() bool { return d.nsLabel }

// Subscribe returns a channel of every event from now on, for Kubernetes
// events, node conditions and `nodeguard watch`. A subscriber that falls
// behind by more than buffer events loses the newest ones (counted in
// SubscriberDrops) rather than stalling the reader. cancel ends the
// subscription and closes the channel; the channel is also closed when the
// detector stops.
func (d *Detector) Subscribe(buffer int) (events <-chan Event, cancel func()) {
	ch := make(chan Event, buffer)
	d.mu.Lock()
	defer d.mu.Unlock()
	id := d.nextSub
	d.nextSub++
	if d.subs == nil { // already closed
		close(ch)
		return ch, func() {}
	}
	d.subs[id] = ch
	return ch, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if c, ok := d.subs[id]; ok {
			delete(d.subs, id)
			close(c)
		}
	}
}

// SubscriberDrops counts events a slow subscriber missed.
func (d *Detector) SubscriberDrops() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.subDrops
}

// Err is why the reader stopped, if it failed.
func (d *Detector) Err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

// Done is closed when the detector has stopped.
func (d *Detector) Done() <-chan struct{} { return d.done }

func (d *Detector) read() {
	defer d.stop()
	var rec ringbuf.Record
	for {
		d.reader.SetDeadline(time.Now().Add(d.poll))
		err := d.reader.ReadInto(&rec)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			continue
		}
		if errors.Is(err, ringbuf.ErrClosed) || errors.Is(err, os.ErrClosed) {
			return
		}
		if err != nil {
			d.mu.Lock()
			d.err = err
			d.mu.Unlock()
			d.log.Error().Err(err).Msg("runtime: reading the ring buffer failed; runtime detection stopped")
			return
		}
		r, err := decodeRaw(rec.RawSample)
		if err != nil {
			d.mu.Lock()
			d.decodeErr++
			d.mu.Unlock()
			d.log.Warn().Err(err).Msg("runtime: dropping undecodable event")
			continue
		}
		for _, ev := range d.judge.events(&r) {
			d.dispatch(ev)
		}
	}
}

func (d *Detector) dispatch(ev Event) {
	k := CountKey{Rule: ev.Rule, Severity: string(ev.Severity)}
	if d.nsLabel {
		k.Namespace = ev.Namespace
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.counts[k]++
	ids := make([]int, 0, len(d.subs))
	for id := range d.subs {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for _, id := range ids {
		select {
		case d.subs[id] <- ev:
		default:
			d.subDrops++
		}
	}
}

// stop closes every subscription; the reader calls it when it ends.
func (d *Detector) stop() {
	d.mu.Lock()
	for id, c := range d.subs {
		close(c)
		delete(d.subs, id)
	}
	d.subs = nil
	d.mu.Unlock()
	close(d.done)
}

// Close detaches the programs and stops the reader. It does not wait for a
// program the verifier is still checking: the loader closes what it loads
// after Close, and the maps once it is done with them.
func (d *Detector) Close() error {
	var errs []error
	d.stopOnce.Do(func() {
		d.mu.Lock()
		d.closed = true
		links, progs := d.links, d.progs
		d.links, d.progs = nil, nil
		d.mu.Unlock()
		for _, l := range links {
			errs = append(errs, l.Close())
		}
		for _, p := range progs {
			errs = append(errs, p.Close())
		}
		if d.reader != nil {
			errs = append(errs, d.reader.Close())
		}
		if d.judge == nil { // the reader never started
			d.stop()
		} else {
			<-d.done
		}
		select {
		case <-d.loaded:
			errs = append(errs, d.maps.Close())
		default:
			go func() {
				<-d.loaded
				d.maps.Close()
			}()
		}
	})
	return errors.Join(errs...)
}
