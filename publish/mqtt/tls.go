package mqtt

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"strings"
)

// clientTLS builds the TLS configuration for a resolved o: its TLS field
// or the certificate files, the endpoint's host as server name, and ALPN
// x-amzn-mqtt-ca on port 443.
func clientTLS(o Opts) (*tls.Config, error) {
	c := o.TLS
	if c == nil {
		var err error
		if c, err = loadTLS(o); err != nil {
			return nil, err
		}
	} else {
		c = c.Clone()
	}
	host, port, _ := net.SplitHostPort(o.Endpoint)
	if port == "443" {
		c.NextProtos = []string{ALPN443}
	}
	if c.ServerName == "" {
		c.ServerName = host
	}
	return c, nil
}

// loadTLS reads and checks the certificate, key and CA files, naming the
// file at fault: each must be readable, the certificate and the key must
// parse and belong together, and the CA file must hold a certificate.
func loadTLS(o Opts) (*tls.Config, error) {
	certPEM, err := os.ReadFile(o.CertFile)
	if err != nil {
		return nil, &OptError{Opt: "cert_file", Msg: err.Error(), Err: err}
	}
	keyPEM, err := os.ReadFile(o.KeyFile)
	if err != nil {
		return nil, &OptError{Opt: "key_file", Msg: err.Error(), Err: err}
	}
	if blk, _ := pem.Decode(certPEM); blk == nil || blk.Type != "CERTIFICATE" {
		return nil, &OptError{Opt: "cert_file", Msg: fmt.Sprintf("%s: no PEM CERTIFICATE block", o.CertFile)}
	} else if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
		return nil, &OptError{Opt: "cert_file", Msg: fmt.Sprintf("%s: %v", o.CertFile, err), Err: err}
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		msg := fmt.Sprintf("%s: %v", o.KeyFile, err)
		if strings.Contains(err.Error(), "does not match") {
			msg = fmt.Sprintf("%s does not match the certificate %s (%v)", o.KeyFile, o.CertFile, err)
		}
		return nil, &OptError{Opt: "key_file", Msg: msg, Err: err}
	}
	c := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if o.CAFile != "" {
		b, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, &OptError{Opt: "ca_file", Msg: err.Error(), Err: err}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, &OptError{Opt: "ca_file", Msg: fmt.Sprintf("%s: no PEM certificates", o.CAFile)}
		}
		c.RootCAs = pool
	}
	return c, nil
}
