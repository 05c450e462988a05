package configs

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestAllowHosts: http.allow_hosts takes host names and addresses, with an
// optional port, and refuses anything else with its line.
func TestAllowHosts(t *testing.T) {
	t.Setenv(EnvThingName, "")
	name := filepath.Join(t.TempDir(), "t.yaml")
	c, err := Parse(name, []byte(base+"http:\n  allow_hosts:\n    - pi-01.example.com\n    - 192.0.2.1:8080\n    - '[2001:db8::1]'\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.HTTP.AllowHosts, " "); got != "pi-01.example.com 192.0.2.1:8080 [2001:db8::1]" {
		t.Fatalf("allow_hosts %q", got)
	}
	if d := Default().HTTP.AllowHosts; len(d) != 0 {
		t.Fatalf("default allow_hosts %q; want none", d)
	}
	_, err = Parse(name, []byte(base+"http:\n  allow_hosts:\n    - pi.local\n    - http://pi.local\n"))
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("err %v; want ErrInvalid", err)
	}
	want := `t.yaml:6: http.allow_hosts[1]: "http://pi.local" is not a host name or IP address`
	if got := strings.ReplaceAll(err.Error(), name, "t.yaml"); !strings.Contains(got, want) {
		t.Fatalf("error %q\nwant it to contain %q", got, want)
	}
}
