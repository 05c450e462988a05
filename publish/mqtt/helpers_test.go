package mqtt

import (
	"testing"

	"github.com/stirling-iot/stirling/internal/testsrv/tlstest"
)

func mosquittotestCerts(t *testing.T) *tlstest.Certs { return tlstest.New(t) }
