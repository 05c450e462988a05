package mqtt

import (
	"reflect"
	"testing"
)

// TestDefaultOpts: DefaultOpts holds exactly the defaults New fills in for
// zero fields, so a caller starting from it gets the same publisher.
func TestDefaultOpts(t *testing.T) {
	noEnv := func(string) string { return "" }
	never := func(string) bool { return false }
	id := func(o Opts) Opts {
		o.Endpoint, o.Thing, o.CertFile, o.KeyFile = "host:8883", "pi", "c.pem", "k.pem"
		return o
	}
	fromZero, err := resolve(id(Opts{}), noEnv, never)
	if err != nil {
		t.Fatal(err)
	}
	fromDefaults, err := resolve(id(DefaultOpts()), noEnv, never)
	if err != nil {
		t.Fatal(err)
	}
	if fromZero.Logger == nil || fromZero.Clock == nil {
		t.Errorf("resolve left Logger %v, Clock %v unset", fromZero.Logger, fromZero.Clock)
	}
	fromZero.Logger, fromDefaults.Logger = nil, nil
	if !reflect.DeepEqual(fromZero, fromDefaults) {
		t.Errorf("resolved from DefaultOpts:\n%+v\nfrom zero Opts:\n%+v", fromDefaults, fromZero)
	}
}
