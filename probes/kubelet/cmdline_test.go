package kubelet

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseProcCmdline(t *testing.T) {
	got := ParseProcCmdline([]byte("/usr/bin/kubelet\x00--config=/a b\x00\x00--v=2\x00"))
	want := []string{"/usr/bin/kubelet", "--config=/a b", "", "--v=2"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if ParseProcCmdline(nil) != nil || ParseProcCmdline([]byte{0}) != nil {
		t.Fatal("empty cmdline must give no arguments")
	}
}

func TestSplitSystemdWords(t *testing.T) {
	cases := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{in: `/usr/bin/kubelet --a=1   --b 2`, want: []string{"/usr/bin/kubelet", "--a=1", "--b", "2"}},
		{in: `"KUBELET_ARGS=--x=1 --y=2" B=c`, want: []string{"KUBELET_ARGS=--x=1 --y=2", "B=c"}},
		{in: `--labels="a b"'c d'e`, want: []string{"--labels=a bc de"}},
		{in: `a\sb \x41\101\u00e9 "q\"uote"`, want: []string{"a b", "AAé", `q"uote`}},
		{in: `''`, want: []string{""}},
		{in: `"unterminated`, wantErr: true},
		{in: `trailing\`, wantErr: true},
		{in: `bad\q`, wantErr: true},
	}
	for _, c := range cases {
		got, err := SplitSystemdWords(c.in)
		if (err != nil) != c.wantErr {
			t.Errorf("%q: err = %v, want error %v", c.in, err, c.wantErr)
			continue
		}
		if !c.wantErr && !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: got %q, want %q", c.in, got, c.want)
		}
	}
}

func TestExpandExecArgs(t *testing.T) {
	env := map[string]string{"A": "--x=1  --y=2", "B": "b v", "EMPTY": ""}
	got := ExpandExecArgs([]string{"/bin/k", "$A", "--b=${B}", "$EMPTY", "$UNSET", "x$A", "$$A", "${UNSET}z", "${bad-name}"}, env)
	want := []string{"/bin/k", "--x=1", "--y=2", "--b=b v", "x$A", "$A", "z", "${bad-name}"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestParseEnvironmentFile(t *testing.T) {
	in := "# comment\n; other comment\n\nA=plain value  \nexport B=\"double \\\"q\\\" # not a comment\"\nC='single $X \\n'\nD=con\\\ntinued\n  E = spaced\n"
	got, err := ParseEnvironmentFile([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"A": "plain value", "B": `double "q" # not a comment`, "C": `single $X \n`, "D": "continued", "E": "spaced"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for _, bad := range []string{"NOEQUALS\n", "1A=x\n", "A=\"open\n"} {
		if _, err := ParseEnvironmentFile([]byte(bad)); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

func TestParseUnit(t *testing.T) {
	in := "[Unit]\nDescription=x\n[Service]\n# c\nExecStart=/bin/k \\\n  --a=1 \\\n# inside a continuation\n  --b=2\nEnvironment=A=1\n"
	opts, err := parseUnit([]byte(in), "/u")
	if err != nil {
		t.Fatal(err)
	}
	want := []unitOption{
		{Section: "Unit", Key: "Description", Value: "x", File: "/u"},
		{Section: "Service", Key: "ExecStart", Value: "/bin/k  --a=1  --b=2", File: "/u"},
		{Section: "Service", Key: "Environment", Value: "A=1", File: "/u"},
	}
	if !reflect.DeepEqual(opts, want) {
		t.Fatalf("got %+v\nwant %+v", opts, want)
	}
	if _, err := parseUnit([]byte("[Service\n"), "/u"); err == nil {
		t.Error("malformed section header: want an error")
	}
	if _, err := parseUnit([]byte("[Service]\njunk line\n"), "/u"); err == nil {
		t.Error("line without '=': want an error")
	}
}

// A flag the version does not have is set apart with its value, and the
// flags after it still count.
func TestParseKubeletArgsUnknownFlags(t *testing.T) {
	tbl := &versionTable{Flags: map[string]flagSpec{"config": {}, "anonymous-auth": {Bool: true}}}
	a, unknown, err := parseKubeletArgs([]string{"--pod_infra_container_image", "pause:3.9", "--no-such-switch",
		"--anonymous-auth", "--new-flag=1", "--config", "/c.yaml"}, tbl)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range unknown {
		got = append(got, u.Name+"|"+u.Arg)
	}
	want := []string{"pod-infra-container-image|--pod_infra_container_image pause:3.9", "no-such-switch|--no-such-switch", "new-flag|--new-flag=1"}
	if strings.Join(got, ";") != strings.Join(want, ";") {
		t.Errorf("unknown = %q, want %q", got, want)
	}
	if v, _ := a.Last("config"); v != "/c.yaml" {
		t.Errorf("config = %q", v)
	}
	if _, ok := a.Last("anonymous-auth"); !ok {
		t.Error("--anonymous-auth after an unknown flag was lost")
	}
}

func TestParseKubeletArgs(t *testing.T) {
	latest := &generatedTables()[len(generatedTables())-1]
	a, _, err := parseKubeletArgs([]string{"--config", "/c.yaml", "--anonymous-auth", "--read_only_port=0", "-v", "3",
		"--feature-gates=A=true", "--feature-gates", "B=false,A=false"}, latest)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := a.Last("config"); v != "/c.yaml" {
		t.Errorf("config = %q", v)
	}
	if v, _ := a.Last("anonymous-auth"); v != "true" {
		t.Errorf("a bare boolean flag must be true, got %q", v)
	}
	if v, _ := a.Last("read-only-port"); v != "0" {
		t.Errorf("underscores must normalise to dashes, got %q", v)
	}
	patch, paths, err := flagPatch(a)
	if err != nil {
		t.Fatal(err)
	}
	if string(patch) != `{"authentication":{"anonymous":{"enabled":true}},"featureGates":{"A":false,"B":false},"readOnlyPort":0}` {
		t.Errorf("patch = %s", patch)
	}
	if paths["featureGates.B"] != "feature-gates" || paths["readOnlyPort"] != "read-only-port" {
		t.Errorf("paths = %v", paths)
	}
	for _, bad := range [][]string{{"stray"}, {"--config"}} {
		if _, _, err := parseKubeletArgs(bad, latest); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
	a, _, _ = parseKubeletArgs([]string{"--read-only-port=abc"}, latest)
	if _, _, err := flagPatch(a); err == nil {
		t.Error("--read-only-port=abc: want an error")
	}
}
