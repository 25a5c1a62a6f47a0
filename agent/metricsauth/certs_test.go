package metricsauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// writePair writes a self-signed pair with the given serial the way a Secret
// volume updates: new files renamed over the old ones.
func writePair(t *testing.T, dir string, serial int64) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"tls.key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}),
		"tls.crt": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
	} {
		tmp := filepath.Join(dir, name+".new")
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

func serialOf(t *testing.T, r *CertReloader) int64 {
	t.Helper()
	c, err := r.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf.SerialNumber.Int64()
}

func TestCertReloaderFollowsRotation(t *testing.T) {
	dir := t.TempDir()
	writePair(t, dir, 1)
	r, err := NewCertReloader(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if got := serialOf(t, r); got != 1 {
		t.Fatalf("serial %d, want 1", got)
	}
	writePair(t, dir, 2)
	if got := serialOf(t, r); got != 2 {
		t.Fatalf("after rotation serial %d, want 2", got)
	}
	// A key that does not match the certificate (a rotation half done)
	// keeps the last good pair.
	other := t.TempDir()
	writePair(t, other, 3)
	data, err := os.ReadFile(filepath.Join(other, "tls.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := serialOf(t, r); got != 2 {
		t.Fatalf("with a mismatched key serial %d, want the previous 2", got)
	}
}

func TestCertReloaderRejectsBadFilesAtStart(t *testing.T) {
	dir := t.TempDir()
	if _, err := NewCertReloader(filepath.Join(dir, "missing.crt"), filepath.Join(dir, "missing.key"), zerolog.Nop()); err == nil {
		t.Error("missing files: no error")
	}
	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, []byte("\x00\x01not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewCertReloader(garbage, garbage, zerolog.Nop()); err == nil {
		t.Error("garbage files: no error")
	}
}

func TestSelfSigned(t *testing.T) {
	c, err := SelfSigned([]string{"node-1", "127.0.0.1", ""})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Leaf.VerifyHostname("node-1"); err != nil {
		t.Error(err)
	}
	if err := c.Leaf.VerifyHostname("127.0.0.1"); err != nil {
		t.Error(err)
	}
}
