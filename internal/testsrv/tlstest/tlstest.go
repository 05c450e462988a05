// Package tlstest generates a throwaway certificate authority, a server
// certificate for the loopback interface and client certificates, written as
// PEM files into a test's temporary directory. Tests use it to run brokers
// with mutual TLS without any checked-in key material.
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Certs is a CA with one server and one client certificate, as files.
type Certs struct {
	Dir        string // directory holding every file below
	CAFile     string // CA certificate (PEM)
	ServerCert string // server certificate for 127.0.0.1, ::1 and localhost (PEM)
	ServerKey  string // server private key (PEM, PKCS#8)
	ClientCert string // client certificate, CN "stirling-test" (PEM)
	ClientKey  string // client private key (PEM, PKCS#8)

	ca    *x509.Certificate
	caKey *ecdsa.PrivateKey
}

// New creates a fresh CA, server and client certificate in a new temporary
// directory of t. Keys are ECDSA P-256 (fast to generate); files are
// world-readable so a broker that drops privileges can still load them.
func New(t testing.TB) *Certs {
	t.Helper()
	dir := t.TempDir()
	c := &Certs{Dir: dir}
	caKey := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: "stirling test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatalf("tlstest: create CA: %v", err)
	}
	c.ca, err = x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("tlstest: parse CA: %v", err)
	}
	c.caKey = caKey
	c.CAFile = filepath.Join(dir, "ca.pem")
	writePEM(t, c.CAFile, "CERTIFICATE", der)

	c.ServerCert, c.ServerKey = c.issue(t, "server", "localhost", true)
	c.ClientCert, c.ClientKey = c.Issue(t, "stirling-test")
	return c
}

// Issue signs a new client certificate with common name cn and returns the
// paths of its certificate and key files.
func (c *Certs) Issue(t testing.TB, cn string) (certFile, keyFile string) {
	t.Helper()
	return c.issue(t, "client-"+cn, cn, false)
}

func (c *Certs) issue(t testing.TB, name, cn string, server bool) (string, string) {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.ca, &key.PublicKey, c.caKey)
	if err != nil {
		t.Fatalf("tlstest: create %s certificate: %v", name, err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("tlstest: marshal %s key: %v", name, err)
	}
	certFile := filepath.Join(c.Dir, name+".pem")
	keyFile := filepath.Join(c.Dir, name+".key")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "PRIVATE KEY", pk)
	return certFile, keyFile
}

// ClientTLS returns a client TLS configuration that trusts the CA and
// presents the client certificate.
func (c *Certs) ClientTLS(t testing.TB) *tls.Config {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(c.ClientCert, c.ClientKey)
	if err != nil {
		t.Fatalf("tlstest: load client key pair: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c.ca)
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("tlstest: generate key: %v", err)
	}
	return k
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatalf("tlstest: serial: %v", err)
	}
	return n
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	b := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatalf("tlstest: %v", err)
	}
}
