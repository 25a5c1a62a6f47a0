package controlplane

import (
	"bytes"
	"fmt"
	"path"
	"strconv"

	"github.com/nodeguard/nodeguard/probes/kubelet"
	"github.com/nodeguard/nodeguard/probes/model/catalog"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

// etcdDataDir is CIS 1.1.11 (mode 700) and 1.1.12 (owner) of etcd's
// --data-dir (or ETCD_DATA_DIR), found on the host through its hostPath
// volume.
func etcdDataDir(root *hostfs.Root, pd *pod, pol *Policy) []finding.Finding {
	dir := pd.flags["data-dir"]
	if dir == "" || !path.IsAbs(dir) {
		// etcd's default is <name>.etcd in its working directory: not a
		// host path nodeguard can find.
		var out []finding.Finding
		for _, id := range []string{"controlplane.etcd-data-dir-permissions", "controlplane.etcd-data-dir-ownership"} {
			f := catalog.Get(id).Finding(finding.Skip, fmt.Sprintf("etcd's --data-dir is %q in %s: not an absolute path to check", dir, pd.manifest))
			f.Remediation = ""
			out = append(out, f)
		}
		return out
	}
	hp := pd.hostPath(dir)
	if !root.Exists(hp) {
		// etcd creates it on start: nothing to judge yet.
		var out []finding.Finding
		for _, id := range []string{"controlplane.etcd-data-dir-permissions", "controlplane.etcd-data-dir-ownership"} {
			f := catalog.Get(id).Finding(finding.Skip, hp+" does not exist on this host (etcd creates it on start)")
			f.Remediation = ""
			f.Evidence.Set("file", hp)
			out = append(out, f)
		}
		return out
	}
	out := kubelet.CheckFile(root, kubelet.FileCheck{ID: "controlplane.etcd-data-dir", What: "etcd data directory", Path: hp, MaxMode: 0o700})
	// CheckFile's ownership finding asks for root:root; 1.1.12 asks for
	// etcd:etcd, judged here instead.
	kept := out[:0]
	for _, f := range out {
		if f.ID != "controlplane.etcd-data-dir-ownership" {
			kept = append(kept, f)
		}
	}
	if len(kept) < len(out) { // the directory could be stat'ed
		var allowed []owner
		want := "etcd:etcd"
		if uid, gid, ok := etcdAccount(root); ok {
			allowed = append(allowed, owner{uid, gid})
		}
		if !pol.StrictEtcdDataDirOwner {
			allowed = append(allowed, owner{pd.uid, pd.gid})
			want = fmt.Sprintf("etcd:etcd or %d:%d, the account etcd's container runs as", pd.uid, pd.gid)
		}
		kept = append(kept, ownedBy(root, "controlplane.etcd-data-dir-ownership", hp, want, allowed))
	}
	return kept
}

// etcdAccount is the uid of the user etcd and the gid of the group etcd in
// the host's account files.
func etcdAccount(root *hostfs.Root) (uid, gid int64, ok bool) {
	find := func(file string) (int64, bool) {
		data, err := root.ReadFile(file)
		if err != nil {
			return 0, false
		}
		for _, line := range bytes.Split(data, []byte("\n")) {
			f := bytes.Split(line, []byte(":"))
			if len(f) >= 3 && string(f[0]) == "etcd" {
				n, err := strconv.ParseInt(string(f[2]), 10, 64)
				return n, err == nil
			}
		}
		return 0, false
	}
	u, okU := find("/etc/passwd")
	g, okG := find("/etc/group")
	return u, g, okU && okG
}
