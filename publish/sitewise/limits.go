package sitewise

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
)

// window holds the send times of a property's last Rate entries: a new
// entry may go once the oldest of them is a second old, so no sliding
// second ever carries more than Rate entries of one property.
type window struct {
	times []time.Time // ring
	pos   int
}

// waitRate reserves one slot per entry of a request and waits until all of
// them are free. Reservations made before a cancelled wait stay used; that
// only makes the limiter more conservative.
func (p *Publisher) waitRate(ctx context.Context, es []entry) error {
	now := p.clk.Now()
	ready := now
	used := map[string]int{}
	for _, e := range es {
		w := p.buckets[e.alias]
		if w == nil {
			w = &window{times: make([]time.Time, p.rate)}
			p.buckets[e.alias] = w
		}
		slot := w.times[(w.pos+used[e.alias])%len(w.times)]
		used[e.alias]++
		if used[e.alias] > len(w.times) {
			// More entries of one alias than Rate in one request cannot
			// happen with MaxEntries == Rate == 10; be safe anyway.
			slot = now.Add(time.Second)
		}
		if t := slot.Add(time.Second); !slot.IsZero() && t.After(ready) {
			ready = t
		}
	}
	for a, n := range used {
		w := p.buckets[a]
		for range n {
			w.times[w.pos] = ready
			w.pos = (w.pos + 1) % len(w.times)
		}
	}
	if d := ready.Sub(now); d > 0 {
		p.st.waited(d)
		return p.clk.Sleep(ctx, d)
	}
	return nil
}

// unauthorizedCodes are request-level errors that refuse our identity or
// permission. The readings are not at fault: they are retried (with the
// runner's longer cap for publish.ErrUnauthorized), never rejected.
var unauthorizedCodes = map[string]bool{
	"AccessDeniedException":       true,
	"UnrecognizedClientException": true,
}

// rejectCodes are request-level error codes that will fail again: the
// readings are rejected with the reason.
var rejectCodes = map[string]bool{
	"InvalidRequestException":       true,
	"ResourceNotFoundException":     true,
	"ConflictingOperationException": true,
	"LimitExceededException":        true,
	"ValidationException":           true,
	"InvalidParams":                 true, // the SDK's own input validation
}

// credentialsError marks a failure to get credentials (the token exchange
// service down or refusing): always retried, whatever status it carries.
type credentialsError struct{ err error }

func (e *credentialsError) Error() string { return "sitewise: get credentials: " + e.err.Error() }
func (e *credentialsError) Unwrap() error { return e.err }

type markedCredentials struct{ p aws.CredentialsProvider }

func (m markedCredentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c, err := m.p.Retrieve(ctx)
	if err != nil {
		return c, &credentialsError{err}
	}
	return c, nil
}

// classify names a request-level error and says whether to retry it.
// HTTP 5xx, throttling, network and credential errors (the token exchange
// service restarting, an expired token, clock skew) are retried; the
// codes in rejectCodes, and other 4xx answers except 401/403/408/429, are
// not.
func classify(err error) (code string, retryable bool) {
	var inv smithy.InvalidParamsError
	if errors.As(err, &inv) {
		return "InvalidParams", false
	}
	if ce := (*credentialsError)(nil); errors.As(err, &ce) {
		return "credentials", true
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		code = api.ErrorCode()
	}
	status := 0
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	if code == "" && status != 0 {
		code = "HTTP" + strconv.Itoa(status)
	}
	switch {
	case code != "" && rejectCodes[code]:
		return code, false
	case status >= 400 && status < 500 && status != 401 && status != 403 && status != 408 && status != 429:
		return code, false
	case code != "":
		return code, true
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return "timeout", true
	case errors.Is(err, context.Canceled):
		return "canceled", true
	}
	return "network", true
}

func errMessage(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorMessage() != "" {
		return api.ErrorMessage()
	}
	return err.Error()
}

type stats struct {
	mu                                   sync.Mutex
	requests, attempts                   uint64
	accepted, retried, rejected          uint64
	outOfWindow, throttledWaits          uint64
	throttledTime                        time.Duration
	requestErrors, retriedBy, rejectedBy map[string]uint64
}

func (s *stats) count(f *uint64, n uint64) {
	s.mu.Lock()
	*f += n
	s.mu.Unlock()
}

func bump(m *map[string]uint64, k string, n uint64) {
	if *m == nil {
		*m = map[string]uint64{}
	}
	(*m)[k] += n
}

func (s *stats) rejectLocal(n uint64) { s.rejectCode("local", n) }

func (s *stats) rejectCode(code string, n uint64) {
	s.mu.Lock()
	s.rejected += n
	bump(&s.rejectedBy, code, n)
	s.mu.Unlock()
}

func (s *stats) retryCode(code string, n uint64) {
	s.mu.Lock()
	s.retried += n
	bump(&s.retriedBy, code, n)
	s.mu.Unlock()
}

func (s *stats) requestError(code string) {
	s.mu.Lock()
	bump(&s.requestErrors, code, 1)
	s.mu.Unlock()
}

func (s *stats) waited(d time.Duration) {
	s.mu.Lock()
	s.throttledWaits++
	s.throttledTime += d
	s.mu.Unlock()
}

// Stats are a Publisher's counters since New.
type Stats struct {
	// Requests is BatchPutAssetPropertyValue calls (the SDK's own retries
	// of one call are not counted separately).
	Requests uint64
	// Attempts is HTTP requests sent, the SDK's retries included.
	Attempts uint64
	// Accepted, Retried and Rejected count readings by outcome. Retried
	// counts each time a reading was left for retry.
	Accepted, Retried, Rejected uint64
	// OutOfWindow counts readings rejected before sending because their
	// timestamp was outside [now-MaxAge, now+MaxFuture] (also in Rejected,
	// under RejectedByCode["local"]).
	OutOfWindow uint64
	// ThrottledWaits counts requests delayed by the per-property rate
	// limit; ThrottledTime is the total delay.
	ThrottledWaits uint64
	ThrottledTime  time.Duration
	// RequestErrors counts failed requests by error code
	// ("ThrottlingException", "HTTP503", "network", "credentials", ...).
	RequestErrors map[string]uint64
	// RetriedByCode counts readings retried because of a per-entry error
	// code; "unlisted" for values of a failed entry no error named.
	RetriedByCode map[string]uint64
	// RejectedByCode counts rejected readings by error code; "local" for
	// readings refused before sending (timestamp window, non-finite value,
	// invalid alias).
	RejectedByCode map[string]uint64
}

// Stats returns a snapshot of the counters.
func (p *Publisher) Stats() Stats {
	s := &p.st
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := func(m map[string]uint64) map[string]uint64 {
		out := make(map[string]uint64, len(m))
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	return Stats{
		Requests: s.requests, Attempts: s.attempts, Accepted: s.accepted, Retried: s.retried, Rejected: s.rejected,
		OutOfWindow: s.outOfWindow, ThrottledWaits: s.throttledWaits, ThrottledTime: s.throttledTime,
		RequestErrors: cp(s.requestErrors), RetriedByCode: cp(s.retriedBy), RejectedByCode: cp(s.rejectedBy),
	}
}
