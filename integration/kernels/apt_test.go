package kernels

import (
	"archive/tar"
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/klauspost/compress/zstd"
	debversion "github.com/knqyf263/go-deb-version"
	"github.com/ulikunitz/xz"
)

// apt is a private apt configuration under the cache: its own sources list,
// lists, archives and (empty) dpkg status. Fetching kernels from suites the
// host does not use (trixie) never touches the host's apt state, and the
// host's lists may be stale or, in a CI container, absent.
type apt struct {
	dir     string
	opts    []string
	updated bool // apt-get update ran in this process
}

// newAPT writes the private sources list for suites (every suite any fetch
// will ask for) and returns the configuration. The mirrors come from the
// host's own apt sources, so no mirror name is written down anywhere.
func newAPT(dir string, suites []string) (*apt, error) {
	repos, codename, err := hostRepos()
	if err != nil {
		return nil, err
	}
	var list strings.Builder
	for _, s := range suites {
		uri := mirrorFor(s, codename, repos)
		if uri == "" {
			return nil, fmt.Errorf("no Debian archive for %s in the host's apt sources (suites %v)", s, slices.Sorted(maps.Keys(repos)))
		}
		fmt.Fprintf(&list, "deb %s %s main\n", uri, s)
	}
	empty := filepath.Join(dir, "empty.d")
	for _, d := range []string{empty, filepath.Join(dir, "lists", "partial"), filepath.Join(dir, "archives", "partial")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	sources := filepath.Join(dir, "sources.list")
	status := filepath.Join(dir, "status")
	old, _ := os.ReadFile(sources)
	if err := os.WriteFile(sources, []byte(list.String()), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(status, nil, 0o644); err != nil {
		return nil, err
	}
	a := &apt{dir: dir, opts: []string{
		"-o", "Dir::Etc::SourceList=" + sources,
		"-o", "Dir::Etc::SourceParts=" + empty,
		"-o", "Dir::Etc::Preferences=" + filepath.Join(empty, "none"),
		"-o", "Dir::Etc::PreferencesParts=" + empty,
		"-o", "Dir::State=" + dir,
		"-o", "Dir::State::Lists=" + filepath.Join(dir, "lists"),
		"-o", "Dir::State::status=" + status,
		"-o", "Dir::Cache=" + dir,
		"-o", "Dir::Cache::Archives=" + filepath.Join(dir, "archives"),
		// The lists and archives live in root's home, which the _apt user cannot enter.
		"-o", "APT::Sandbox::User=root",
		// Only Packages indices are needed; skip the AppStream metadata hosts configure.
		"-o", "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false",
		"-o", "Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false",
		"-o", "Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false",
		"-o", "Acquire::IndexTargets::deb::DEP-11-icons-hidpi::DefaultEnabled=false",
	}}
	// A changed sources list means lists are missing: fetch them now.
	if string(old) != list.String() || os.Getenv("NODEGUARD_KERNELS_REFRESH") != "" {
		if err := a.update(); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// hostRepos returns the repository URI of each suite in the host's apt
// sources (apt-get indextargets parses both source formats) and the host's
// release codename.
func hostRepos() (map[string]string, string, error) {
	out, err := exec.Command("apt-get", "indextargets", "--format", "$(TARGET_OF) $(RELEASE) $(REPO_URI)").Output()
	if err != nil {
		return nil, "", fmt.Errorf("apt-get indextargets: %v", err)
	}
	repos := map[string]string{}
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == "deb" && repos[f[1]] == "" {
			repos[f[1]] = f[2]
		}
	}
	osr, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return nil, "", err
	}
	var codename string
	for line := range strings.Lines(string(osr)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "VERSION_CODENAME="); ok {
			codename = strings.Trim(v, `"`)
		}
	}
	if codename == "" {
		return nil, "", fmt.Errorf("/etc/os-release has no VERSION_CODENAME: not a Debian host?")
	}
	return repos, codename, nil
}

// mirrorFor picks the URI serving suite: the host's own entry for it, else
// the host's entry for the same kind of suite (trixie-security is on the
// mirror of bookworm-security), else the host's main archive, which serves
// every Debian release and backports.
func mirrorFor(suite, codename string, repos map[string]string) string {
	if uri := repos[suite]; uri != "" {
		return uri
	}
	if _, kind, ok := strings.Cut(suite, "-"); ok {
		if uri := repos[codename+"-"+kind]; uri != "" {
			return uri
		}
	}
	return repos[codename]
}

func (a *apt) run(dir string, args ...string) (string, error) {
	cmd := exec.Command(args[0], append(slices.Clone(a.opts), args[1:]...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s: %v\n%s", strings.Join(args, " "), err, tail(stderr.String()+string(out), 2000))
	}
	return string(out), nil
}

func (a *apt) update() error {
	a.updated = true
	_, err := a.run(a.dir, "apt-get", "-q", "update")
	return err
}

// retry runs f, and once more after apt-get update when it fails and the
// lists were not refreshed yet: apt-get update runs only when the cached
// lists lack a package or name a file the mirror no longer has.
func (a *apt) retry(f func() error) error {
	err := f()
	if err != nil && !a.updated {
		if uerr := a.update(); uerr != nil {
			return fmt.Errorf("%v\n(after it failed: %v)", uerr, err)
		}
		err = f()
	}
	return err
}

// resolve returns the newest version of pkg in suite matching the glob
// pattern and, for a metapackage (linux-image-amd64), the linux-image
// package of that version it depends on.
func (a *apt) resolve(pkg, suite, pattern string) (name, version string, err error) {
	out, err := a.run(a.dir, "apt-cache", "madison", pkg)
	if err != nil {
		return "", "", err
	}
	var best debversion.Version
	for line := range strings.Lines(out) {
		// " linux-image-amd64 | 6.12.117-1 | http://mirror/debian trixie/main amd64 Packages"
		f := strings.Split(line, "|")
		if len(f) != 3 || strings.TrimSpace(f[0]) != pkg {
			continue
		}
		v := strings.TrimSpace(f[1])
		src := strings.Fields(f[2])
		if len(src) < 2 || strings.Split(src[1], "/")[0] != suite {
			continue
		}
		if ok, _ := path.Match(pattern, v); !ok {
			continue
		}
		dv, err := debversion.NewVersion(v)
		if err == nil && (version == "" || dv.GreaterThan(best)) {
			best, version = dv, v
		}
	}
	if version == "" {
		return "", "", fmt.Errorf("no %s %s in %s (apt-cache madison: %q)", pkg, pattern, suite, tail(out, 600))
	}
	show, err := a.run(a.dir, "apt-cache", "show", pkg+"="+version)
	if err != nil {
		return "", "", err
	}
	name = pkg
	for line := range strings.Lines(show) {
		deps, ok := strings.CutPrefix(line, "Depends:")
		if !ok {
			continue
		}
		for d := range strings.SplitSeq(deps, ",") {
			if n := strings.Fields(d); len(n) > 0 && strings.HasPrefix(n[0], "linux-image-") {
				name = n[0]
			}
		}
		break
	}
	return name, version, nil
}

// download fetches name=version with apt-get download (never installed) and
// returns the .deb's path, inside the fresh directory dir.
func (a *apt) download(dir, name, version string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if _, err := a.run(dir, "apt-get", "-q", "download", name+"="+version); err != nil {
		return "", err
	}
	debs, _ := filepath.Glob(filepath.Join(dir, "*.deb"))
	if len(debs) != 1 {
		return "", fmt.Errorf("apt-get download %s=%s left %v", name, version, debs)
	}
	return debs[0], nil
}

// fetch makes sure dest holds wantFiles, taken from package name=version:
// pick maps a member's path in the package to its file name in dest ("" to
// leave it out). A complete dest is a cache hit: nothing is downloaded.
func (a *apt) fetch(dest, name, version string, pick func(member string) string, wantFiles []string) error {
	if complete(dest, wantFiles) {
		return nil
	}
	tmp := dest + ".tmp"
	os.RemoveAll(tmp)
	defer os.RemoveAll(tmp)
	var deb string
	err := a.retry(func() error {
		var err error
		deb, err = a.download(filepath.Join(tmp, "deb"), name, version)
		return err
	})
	if err != nil {
		return err
	}
	if err := extract(deb, tmp, pick); err != nil {
		return fmt.Errorf("%s: %v", filepath.Base(deb), err)
	}
	if err := os.RemoveAll(filepath.Join(tmp, "deb")); err != nil {
		return err
	}
	if !complete(tmp, wantFiles) {
		return fmt.Errorf("%s %s does not hold %v", name, version, wantFiles)
	}
	os.RemoveAll(dest)
	return os.Rename(tmp, dest)
}

func complete(dir string, files []string) bool {
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return false
		}
	}
	return true
}

// extract writes the members of deb that pick names into dir, decompressing
// .xz and .zst (compressed kernel modules) on the way.
func extract(deb, dir string, pick func(member string) string) error {
	cmd := exec.Command("dpkg-deb", "--fsys-tarfile", deb)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	tr := tar.NewReader(bufio.NewReader(pipe))
	var werr error
	for {
		h, err := tr.Next()
		if err != nil {
			if err != io.EOF {
				werr = err
			}
			break
		}
		out := ""
		if h.Typeflag == tar.TypeReg {
			out = pick(strings.TrimPrefix(h.Name, "."))
		}
		if out == "" {
			continue
		}
		r, err := decompress(h.Name, tr)
		if err == nil {
			err = writeFile(filepath.Join(dir, out), r, 0o644)
			r.Close()
		}
		if err != nil {
			werr = fmt.Errorf("%s: %v", h.Name, err)
			break
		}
	}
	io.Copy(io.Discard, pipe)
	if err := cmd.Wait(); err != nil && werr == nil {
		werr = fmt.Errorf("dpkg-deb --fsys-tarfile: %v: %s", err, stderr.String())
	}
	return werr
}

// decompress undoes the compression name's extension names (.xz and .zst:
// compressed kernel modules).
func decompress(name string, r io.Reader) (io.ReadCloser, error) {
	switch {
	case strings.HasSuffix(name, ".xz"):
		xr, err := xz.NewReader(r)
		return io.NopCloser(xr), err
	case strings.HasSuffix(name, ".zst"):
		d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		return d.IOReadCloser(), nil
	}
	return io.NopCloser(r), nil
}

// decompressTo writes the decompressed content of file src to dst.
func decompressTo(src, dst string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := decompress(src, f)
	if err != nil {
		return err
	}
	defer r.Close()
	return writeFile(dst, r, 0o644)
}

func writeFile(name string, r io.Reader, mode os.FileMode) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// moduleDepends reads the "depends=" entry of a kernel module's .modinfo
// section (what modinfo -F depends prints).
func moduleDepends(ko string) (string, error) {
	f, err := elf.Open(ko)
	if err != nil {
		return "", err
	}
	defer f.Close()
	s := f.Section(".modinfo")
	if s == nil {
		return "", fmt.Errorf("%s: no .modinfo section", ko)
	}
	b, err := s.Data()
	if err != nil {
		return "", err
	}
	for kv := range bytes.SplitSeq(b, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("depends=")); ok {
			return string(v), nil
		}
	}
	return "", nil
}

// isStatic reports whether bin is an ELF executable without an interpreter,
// so it runs in a guest with no libc.
func isStatic(bin string) bool {
	f, err := elf.Open(bin)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}
