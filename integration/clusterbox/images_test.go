package clusterbox

import (
	"archive/tar"
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Local image names: a made-up domain, so containerd stores them as written
// and the kubelet never tries to pull them.
const (
	agentImage = "nodeguard.local/nodeguard:e2e"
	pauseImage = "nodeguard.local/pause:e2e"
	toolsImage = "nodeguard.local/tools:e2e"
)

// file is one regular file or symlink of an image layer.
type file struct {
	path, link string
	mode       int64
	data       []byte
}

// dockerfileStage is what the Dockerfile's final stage sets; the agent image
// copies it, so the image the e2e runs is the one `make image` builds.
type dockerfileStage struct {
	user            string
	binaries        map[string]string // path in the image by the built file's name
	otherCopies     []string          // COPYs that are not COPY --from=STAGE FILE PATH
	entrypoint, cmd []string
	exposed         []string
	labels          map[string]string
}

// parseDockerfile reads the final stage of the Dockerfile: USER, EXPOSE,
// ENTRYPOINT, CMD, LABEL and the COPYs of the built binaries. Build arguments
// take their defaults (ARG NAME=default).
func parseDockerfile(t *testing.T, path string) dockerfileStage {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	var cur strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "#") || (l == "" && cur.Len() == 0) {
			continue
		}
		if strings.HasSuffix(l, "\\") {
			cur.WriteString(strings.TrimSuffix(l, "\\") + " ")
			continue
		}
		cur.WriteString(l)
		lines = append(lines, cur.String())
		cur.Reset()
	}
	st := dockerfileStage{labels: map[string]string{}, binaries: map[string]string{}}
	args := map[string]string{}
	for _, l := range lines {
		word, rest, _ := strings.Cut(l, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(word) {
		case "FROM":
			st = dockerfileStage{labels: map[string]string{}, binaries: map[string]string{}}
			args = map[string]string{}
		case "ARG":
			k, v, _ := strings.Cut(rest, "=")
			args[k] = v
		case "USER":
			st.user = rest
		case "EXPOSE":
			for p := range strings.FieldsSeq(rest) {
				if !strings.Contains(p, "/") {
					p += "/tcp"
				}
				st.exposed = append(st.exposed, p)
			}
		case "ENTRYPOINT", "CMD":
			var v []string
			if err := json.Unmarshal([]byte(rest), &v); err != nil {
				t.Fatalf("Dockerfile: %s is not in exec form: %s", word, rest)
			}
			if word == "CMD" {
				st.cmd = v
			} else {
				st.entrypoint = v
			}
		case "COPY":
			// The final stage copies the binaries one by one.
			if f := strings.Fields(rest); len(f) == 3 && strings.HasPrefix(f[0], "--from=") {
				st.binaries[filepath.Base(f[1])] = f[2]
			} else {
				st.otherCopies = append(st.otherCopies, rest)
			}
		case "LABEL":
			for rest != "" {
				k, v, _ := strings.Cut(rest, "=")
				var val string
				if strings.HasPrefix(v, `"`) {
					end := strings.Index(v[1:], `"`) + 1
					val, rest = v[1:end], strings.TrimSpace(v[end+1:])
				} else {
					val, rest, _ = strings.Cut(v, " ")
				}
				st.labels[strings.TrimSpace(k)] = os.Expand(val, func(a string) string { return args[a] })
			}
		}
	}
	if len(st.binaries) == 0 || len(st.entrypoint) == 0 {
		t.Fatalf("Dockerfile: no COPY of the binaries or no ENTRYPOINT in the final stage")
	}
	if len(st.otherCopies) > 0 {
		t.Fatalf("Dockerfile: the final stage copies what the e2e image lacks: %q", st.otherCopies)
	}
	return st
}

// buildGo builds a static binary the way the Dockerfile does.
func buildGo(t *testing.T, dir, out, pkg, version string) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), out)
	ldflags := "-s -w -X github.com/nodeguard/nodeguard/agent/release.Version=" + version
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", ldflags, "-o", path, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// writeImage writes an OCI image layout holding one single-layer image,
// tagged ref, as a tarball that `ctr images import` reads.
func writeImage(t *testing.T, out, ref string, files []file, cfg v1.Config) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	dirs := map[string]bool{}
	for _, f := range files {
		for d := filepath.Dir(f.path); d != "/" && d != "." && !dirs[d]; d = filepath.Dir(d) {
			dirs[d] = true
			must(t, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(d, "/") + "/", Mode: 0o755, ModTime: epoch}))
		}
		h := &tar.Header{Name: strings.TrimPrefix(f.path, "/"), Mode: f.mode, ModTime: epoch}
		if f.link != "" {
			h.Typeflag, h.Linkname = tar.TypeSymlink, f.link
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
		}
		must(t, tw.WriteHeader(h))
		_, err := tw.Write(f.data)
		must(t, err)
	}
	must(t, tw.Close())
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(buf.Bytes())), nil
	})
	must(t, err)
	img, err := mutate.AppendLayers(empty.Image, layer)
	must(t, err)
	cf, err := img.ConfigFile()
	must(t, err)
	cf.OS, cf.Architecture, cf.Config = "linux", "amd64", cfg
	cf.Created = v1.Time{Time: epoch}
	img, err = mutate.ConfigFile(img, cf)
	must(t, err)
	tag, err := name.NewTag(ref)
	must(t, err)

	dir := filepath.Join(t.TempDir(), "layout")
	p, err := layout.Write(dir, empty.Index)
	must(t, err)
	// containerd names the image after io.containerd.image.name.
	must(t, p.AppendImage(img, layout.WithAnnotations(map[string]string{
		"io.containerd.image.name":          tag.Name(),
		"org.opencontainers.image.ref.name": tag.TagStr(),
	})))
	must(t, tarDir(dir, out))
}

func tarDir(dir, out string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	if err := tw.AddFS(os.DirFS(dir)); err != nil {
		return err
	}
	return tw.Close()
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// buildImages writes the agent, pause and tools images into dir and returns
// the tarballs.
func buildImages(t *testing.T, repo, dir string) []string {
	t.Helper()
	st := parseDockerfile(t, filepath.Join(repo, "Dockerfile"))
	// The light nodeguard (the entrypoint) and the nodeguard-agent it
	// executes for run, as the Dockerfile copies them.
	var binaries []file
	for _, name := range []string{"nodeguard", "nodeguard-agent"} {
		p, ok := st.binaries[name]
		if !ok {
			t.Fatalf("Dockerfile: the final stage does not copy %s", name)
		}
		binaries = append(binaries, file{path: p, mode: 0o755, data: buildGo(t, repo, name, "./cmd/"+name, "e2e")})
	}
	if len(st.binaries) != len(binaries) {
		t.Fatalf("Dockerfile: the final stage copies %v; the e2e image has nodeguard and nodeguard-agent", st.binaries)
	}
	agentTar := filepath.Join(dir, "nodeguard.tar")
	exposed := map[string]struct{}{}
	for _, p := range st.exposed {
		exposed[p] = struct{}{}
	}
	writeImage(t, agentTar, agentImage, binaries, v1.Config{
		User: st.user, Entrypoint: st.entrypoint, Cmd: st.cmd, ExposedPorts: exposed, Labels: st.labels,
	})

	pause := buildGo(t, repo, "pause", "./integration/clusterbox/pause", "e2e")
	pauseTar := filepath.Join(dir, "pause.tar")
	writeImage(t, pauseTar, pauseImage, []file{{path: "/pause", mode: 0o755, data: pause}},
		v1.Config{Entrypoint: []string{"/pause"}, User: "65535:65535"})

	// Debian's static busybox: a shell to exec, and nc for a listener.
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		fatalOrSkip(t, "busybox-static (Debian) is needed for the test pods' image: %v", err)
	}
	files := []file{{path: "/bin/busybox", mode: 0o755, data: bb}}
	for _, a := range []string{"sh", "nc", "sleep", "cat", "grep"} {
		files = append(files, file{path: "/bin/" + a, link: "busybox", mode: 0o777})
	}
	toolsTar := filepath.Join(dir, "tools.tar")
	writeImage(t, toolsTar, toolsImage, files, v1.Config{Env: []string{"PATH=/bin"}})
	return []string{agentTar, pauseTar, toolsTar}
}

func fatalOrSkip(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

var _ = fmt.Sprintf
