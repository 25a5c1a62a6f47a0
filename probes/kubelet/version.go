package kubelet

import (
	"debug/buildinfo"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

// maxExecutable bounds the kubelet executable nodeguard reads (about 100 MB
// for a stock build).
const maxExecutable = 512 << 20

// gitVersionRE finds the version Kubernetes builds embed with
// -ldflags "-X k8s.io/component-base/version.gitVersion=v1.34.2".
var gitVersionRE = regexp.MustCompile(`version\.gitVersion=(v[0-9]+\.[0-9]+\.[0-9]+[0-9A-Za-z.+-]*)`)

// ExecutableVersion reads a kubelet executable's version: the gitVersion its
// build's -ldflags set (recorded in the Go build information, or found in the
// file's data), else the k8s.io/kubernetes module it was built from.
func ExecutableVersion(root *hostfs.Root, p string) (string, error) {
	f, err := root.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	if !st.Mode().IsRegular() || st.Size() > maxExecutable {
		return "", fmt.Errorf("%s: not a regular file of at most %d bytes", p, maxExecutable)
	}
	if bi, err := buildinfo.Read(f); err == nil {
		for _, s := range bi.Settings {
			if m := gitVersionRE.FindStringSubmatch(s.Value); s.Key == "-ldflags" && m != nil {
				return m[1], nil
			}
		}
		if bi.Main.Path == "k8s.io/kubernetes" && strings.HasPrefix(bi.Main.Version, "v1.") {
			return bi.Main.Version, nil
		}
		for _, d := range bi.Deps {
			if d.Path == "k8s.io/kubernetes" && strings.HasPrefix(d.Version, "v1.") {
				return d.Version, nil
			}
		}
	}
	// -trimpath builds leave -ldflags out of the build information.
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	if v := scanGitVersion(f); v != "" {
		return v, nil
	}
	return "", fmt.Errorf("%s: no Kubernetes version found in the executable", p)
}

// scanGitVersion searches a stream for gitVersionRE in 1 MiB windows that
// overlap by more than a match's length.
func scanGitVersion(r io.Reader) string {
	const window, overlap = 1 << 20, 128
	buf := make([]byte, window+overlap)
	have := 0
	for {
		n, err := io.ReadFull(r, buf[have:])
		chunk := buf[:have+n]
		if m := gitVersionRE.FindSubmatch(chunk); m != nil {
			return string(m[1])
		}
		if err != nil {
			return ""
		}
		have = copy(buf, chunk[len(chunk)-overlap:])
	}
}
