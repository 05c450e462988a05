package mosquittotest

import (
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

func publishOnce(t *testing.T, b *Broker, url, topic, payload string) error {
	t.Helper()
	o := paho.NewClientOptions().AddBroker(url).SetClientID("pub-" + topic).
		SetTLSConfig(b.Certs.ClientTLS(t)).SetAutoReconnect(false).SetConnectTimeout(2 * time.Second)
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(3*time.Second) || tok.Error() != nil {
		return tok.Error()
	}
	defer c.Disconnect(50)
	tok := c.Publish(topic, 1, false, payload)
	tok.WaitTimeout(3 * time.Second)
	return tok.Error()
}

func TestBrokerSubscribeRestart(t *testing.T) {
	b := Start(t, nil)
	sub := b.Subscribe(t, "t/#")
	if err := publishOnce(t, b, b.URL(), "t/1", "one"); err != nil {
		t.Fatal(err)
	}
	sub.WaitN(t, 1, 5*time.Second)
	port := b.Port
	b.Restart()
	if !b.Running() || b.Port != port {
		t.Fatalf("after restart: running %v port %d (was %d)", b.Running(), b.Port, port)
	}
	if err := publishOnce(t, b, b.URL(), "t/2", "two"); err != nil {
		t.Fatal(err)
	}
	msgs := sub.WaitN(t, 2, 5*time.Second)
	if string(msgs[0].Payload) != "one" || string(msgs[1].Payload) != "two" || msgs[1].Topic != "t/2" {
		t.Errorf("messages %+v", msgs)
	}
	b.Stop()
	if b.Running() {
		t.Error("running after Stop")
	}
	if !strings.Contains(b.Log(), "running") {
		t.Errorf("log has no start line:\n%s", b.Log())
	}
}

func TestBrokerRequiresCertificate(t *testing.T) {
	b := Start(t, nil)
	if err := publishOnce(t, b, b.URL(), "ok", "x"); err != nil {
		t.Fatalf("with certificate: %v", err)
	}
	conf := b.Certs.ClientTLS(t)
	conf.Certificates = nil
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", b.Addr, conf)
	if err == nil {
		// TLS 1.3 reports the missing certificate on the first read.
		conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err = conn.Read(make([]byte, 1))
		conn.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "certificate required") {
		t.Errorf("without certificate: %v, want a certificate-required alert", err)
	}
}

func TestProxyDownUp(t *testing.T) {
	b := Start(t, nil)
	px := NewProxy(t, b.Addr)
	if err := publishOnce(t, b, px.URL(), "a", "x"); err != nil {
		t.Fatalf("through proxy: %v", err)
	}
	px.Down()
	if c, err := net.DialTimeout("tcp", px.Addr, time.Second); err == nil {
		c.Close()
		t.Fatal("proxy accepted a connection while down")
	}
	px.Up()
	if err := publishOnce(t, b, px.URL(), "b", "y"); err != nil {
		t.Fatalf("after Up: %v", err)
	}
	if px.Accepts() != 2 {
		t.Errorf("accepts %d, want 2", px.Accepts())
	}
}
