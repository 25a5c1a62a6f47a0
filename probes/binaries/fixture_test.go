package binaries

import (
	"bytes"
	"encoding/binary"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the synthetic binaries of testdata/node")

// syntheticELF is the smallest ELF file debug/buildinfo reads: a header,
// one writable PT_LOAD segment, and in it the build-information blob the
// Go linker writes (magic, pointer size, flags, then the Go version and the
// module list as length-prefixed strings). The fixture trees hold these
// few hundred bytes instead of real binaries of megabytes.
func syntheticELF(goVersion string, mods []string) []byte {
	text := strings.Join(mods, "\n") + "\n"
	// The linker frames the module list with 16-byte sentinels.
	modinfo := strings.Repeat("\x30", 16) + text + strings.Repeat("\xf9", 16)
	var blob bytes.Buffer
	blob.WriteString("\xff Go buildinf:")
	blob.Write([]byte{8, 2}) // pointer size, flagsVersionInl (strings inline)
	blob.Write(make([]byte, 16))
	for _, s := range []string{goVersion, modinfo} {
		blob.Write(binary.AppendUvarint(nil, uint64(len(s))))
		blob.WriteString(s)
	}
	const dataOff, vaddr = 128, 0x400080
	var b bytes.Buffer
	le := binary.LittleEndian
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	b.Write(le.AppendUint16(nil, 2))  // ET_EXEC
	b.Write(le.AppendUint16(nil, 62)) // EM_X86_64
	b.Write(le.AppendUint32(nil, 1))
	b.Write(le.AppendUint64(nil, 0))  // entry
	b.Write(le.AppendUint64(nil, 64)) // phoff
	b.Write(le.AppendUint64(nil, 0))  // shoff: no sections
	b.Write(le.AppendUint32(nil, 0))
	for _, v := range []uint16{64, 56, 1, 64, 0, 0} { // ehsize, phentsize, phnum, shentsize, shnum, shstrndx
		b.Write(le.AppendUint16(nil, v))
	}
	b.Write(le.AppendUint32(nil, 1)) // PT_LOAD
	b.Write(le.AppendUint32(nil, 6)) // PF_R|PF_W: where buildinfo looks without sections
	for _, v := range []uint64{dataOff, vaddr, vaddr, uint64(blob.Len()), uint64(blob.Len()), 16} {
		b.Write(le.AppendUint64(nil, v))
	}
	b.Write(make([]byte, dataOff-b.Len()))
	b.Write(blob.Bytes())
	return b.Bytes()
}

// fixtureBinaries are the Go binaries of testdata/node: what each claims
// to be built from.
var fixtureBinaries = map[string]struct {
	goVersion string
	mods      []string
}{
	// From a release tarball, before CVE-2024-21626 was fixed.
	"usr/local/sbin/runc": {"go1.21.5", []string{"path\tgithub.com/opencontainers/runc",
		"mod\tgithub.com/opencontainers/runc\tv1.1.11\th1:9LjxyVlE0BPMRP2wuQDRlHV4941Jp9rc3F0+YKimopA=",
		"dep\tgolang.org/x/sys\tv0.6.0\th1:MVltZSvRTcU2ljQOhs94SXPftV6DCNnZViHeQps87pQ="}},
	// Its dependency golang.org/x/net and its Go are before CVE-2023-45288's fixes.
	"usr/local/bin/containerd": {"go1.21.6", []string{"path\tgithub.com/containerd/containerd/cmd/containerd",
		"mod\tgithub.com/containerd/containerd\tv1.7.13\t",
		"dep\tgolang.org/x/net\tv0.17.0\t"}},
	"usr/local/bin/kubelet": {"go1.24.4", []string{"path\tk8s.io/kubernetes/cmd/kubelet", "mod\tk8s.io/kubernetes\tv1.33.2\t"}},
	"opt/cni/bin/bridge":    {"go1.22.2", []string{"path\tgithub.com/containernetworking/plugins/plugins/main/bridge", "mod\tgithub.com/containernetworking/plugins\tv1.4.1\t"}},
	// Installed by dpkg (var/lib/dpkg/info/runc.list): the packages probe's.
	"usr/sbin/runc": {"go1.19.8", []string{"path\tgithub.com/opencontainers/runc", "mod\tgithub.com/opencontainers/runc\tv1.1.5\t"}},
}

// TestFixtureBinaries keeps the committed synthetic binaries what
// syntheticELF makes of fixtureBinaries (-update rewrites them).
func TestFixtureBinaries(t *testing.T) {
	for rel, fb := range fixtureBinaries {
		p := filepath.Join("testdata/node", rel)
		want := syntheticELF(fb.goVersion, fb.mods)
		if *update {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, want, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is not what syntheticELF makes (%v): run go test ./probes/binaries -run TestFixtureBinaries -update", p, err)
		}
	}
}
