package tlstest

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"
)

func TestCertsVerify(t *testing.T) {
	c := New(t)
	pool := x509.NewCertPool()
	ca, err := os.ReadFile(c.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatal("CA file has no certificate")
	}
	other := New(t)
	clientB, clientK := c.Issue(t, "second")
	tests := []struct {
		name      string
		cert, key string
		usage     x509.ExtKeyUsage
		host      string
		ok        bool
	}{
		{"server for 127.0.0.1", c.ServerCert, c.ServerKey, x509.ExtKeyUsageServerAuth, "127.0.0.1", true},
		{"server for localhost", c.ServerCert, c.ServerKey, x509.ExtKeyUsageServerAuth, "localhost", true},
		{"server for another host", c.ServerCert, c.ServerKey, x509.ExtKeyUsageServerAuth, "example.com", false},
		{"client", c.ClientCert, c.ClientKey, x509.ExtKeyUsageClientAuth, "", true},
		{"issued client", clientB, clientK, x509.ExtKeyUsageClientAuth, "", true},
		{"client of another CA", other.ClientCert, other.ClientKey, x509.ExtKeyUsageClientAuth, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pair, err := tls.LoadX509KeyPair(tt.cert, tt.key)
			if err != nil {
				t.Fatal(err)
			}
			leaf, err := x509.ParseCertificate(pair.Certificate[0])
			if err != nil {
				t.Fatal(err)
			}
			_, err = leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: tt.host, KeyUsages: []x509.ExtKeyUsage{tt.usage}})
			if (err == nil) != tt.ok {
				t.Errorf("verify = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
