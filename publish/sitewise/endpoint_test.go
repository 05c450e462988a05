package sitewise

import (
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// TestEndpointMustBeHTTPS: an endpoint override is https, or http only on
// loopback; New refuses anything else before any request.
func TestEndpointMustBeHTTPS(t *testing.T) {
	tests := []struct {
		endpoint string
		ok       bool
	}{
		{"https://data.iotsitewise.eu-west-1.amazonaws.com", true},
		{"https://vpce-123.iotsitewise.eu-west-1.vpce.amazonaws.com:443/", true},
		{"http://127.0.0.1:8080", true},
		{"http://127.9.9.9", true},
		{"http://[::1]:9000", true},
		{"http://localhost:9000", true},
		{"http://sitewise.example.com", false},
		{"http://10.0.0.5:8080", false},
		{"http://[::ffff:10.0.0.5]", false},
		{"http://localhost.example.com", false},
		{"ftp://127.0.0.1", false},
		{"127.0.0.1:8080", false},
		{"https://", false},
		{"https://user:pw@data.iotsitewise.eu-west-1.amazonaws.com", false},
	}
	cfg := aws.Config{Region: "eu-west-1", Credentials: aws.AnonymousCredentials{}}
	for _, tc := range tests {
		t.Run(tc.endpoint, func(t *testing.T) {
			_, err := New(t.Context(), &Opts{Thing: "pi-01", Endpoint: tc.endpoint, AWSConfig: &cfg})
			if tc.ok != (err == nil) {
				t.Fatalf("New(endpoint %q) = %v; want ok=%v", tc.endpoint, err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrEndpoint) {
				t.Errorf("err %v does not match ErrEndpoint", err)
			}
		})
	}
}
