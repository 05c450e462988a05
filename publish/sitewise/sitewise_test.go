package sitewise

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/stirling-iot/stirling/internal/clock/clocktest"
	"github.com/stirling-iot/stirling/internal/testsrv/sitewisetest"
	"github.com/stirling-iot/stirling/pipeline"
	"github.com/stirling-iot/stirling/publish"
)

// newFakeClock is a clock that advances only when slept on.
func newFakeClock() *clocktest.Fake {
	return clocktest.NewAuto(time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// newPublisher returns a publisher talking to srv with static credentials.
func newPublisher(t *testing.T, srv *sitewisetest.Server, o Opts) *Publisher {
	t.Helper()
	o.Thing = "pi-01"
	o.Endpoint = srv.URL
	if o.AWSConfig == nil {
		o.AWSConfig = &aws.Config{Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "SECRET", "SESSION")}
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 5 * time.Millisecond
	}
	o.Logger = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	if srv.SecretKey == "" {
		srv.SecretKey = "SECRET"
	}
	p, err := New(t.Context(), &o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// readings returns n readings per metric, one per second ending at end.
func readings(metrics []string, n int, end time.Time) *pipeline.Batch {
	b := &pipeline.Batch{ID: 7}
	seq := uint64(0)
	for i := range n {
		for _, m := range metrics {
			seq++
			b.Readings = append(b.Readings, pipeline.Reading{
				Seq: seq, Metric: m, Unit: "degC", Time: end.Add(-time.Duration(n-i) * time.Second).Add(250 * time.Millisecond),
				Value: float64(seq) / 4, Count: 1,
			})
		}
	}
	return b
}

func metricNames(n int) []string {
	var ms []string
	for i := range n {
		ms = append(ms, fmt.Sprintf("m%d", i))
	}
	return ms
}

func noViolations(t *testing.T, srv *sitewisetest.Server) {
	t.Helper()
	if v := srv.Violations(); len(v) > 0 {
		t.Fatalf("wire violations:\n%s", strings.Join(v[:min(len(v), 10)], "\n"))
	}
}

func statuses(res []publish.Result) map[publish.Status]int {
	m := map[publish.Status]int{}
	for _, r := range res {
		m[r.Status]++
	}
	return m
}

// TestChunking: 1,000 readings of 10 metrics go out as exactly 10 requests
// of 10 entries of 10 values, all accepted, with no throttling wait.
func TestChunking(t *testing.T) {
	clk := newFakeClock()
	srv := sitewisetest.New(t)
	srv.Now = clk.Now
	p := newPublisher(t, srv, Opts{Clock: clk})
	b := readings(metricNames(10), 100, clk.Now())
	res := make([]publish.Result, len(b.Readings))
	if err := p.Send(t.Context(), b, res); err != nil {
		t.Fatal(err)
	}
	if got := statuses(res); got[publish.Accepted] != 1000 {
		t.Fatalf("statuses %v", got)
	}
	reqs := srv.Requests()
	if len(reqs) != 10 {
		t.Fatalf("%d requests, want 10", len(reqs))
	}
	for i, r := range reqs {
		if len(r.Entries) != 10 {
			t.Fatalf("request %d: %d entries", i, len(r.Entries))
		}
		for _, e := range r.Entries {
			if len(e.PropertyValues) != 10 {
				t.Fatalf("request %d entry %s: %d values", i, e.EntryID, len(e.PropertyValues))
			}
		}
	}
	if n := len(srv.Stored()); n != 1000 {
		t.Fatalf("%d values stored", n)
	}
	s := p.Stats()
	if s.Requests != 10 || s.Accepted != 1000 || s.ThrottledWaits != 0 || s.Rejected != 0 {
		t.Fatalf("stats %+v", s)
	}
	noViolations(t, srv)
}

// TestRateLimit: 100 entries per property need at least 9 s at 10 entries
// per second; the publisher waits (on its clock) instead of being throttled.
func TestRateLimit(t *testing.T) {
	clk := newFakeClock()
	srv := sitewisetest.New(t)
	srv.Now = clk.Now
	p := newPublisher(t, srv, Opts{Clock: clk})
	b := readings(metricNames(10), 1000, clk.Now())
	res := make([]publish.Result, len(b.Readings))
	start := time.Now()
	if err := p.Send(t.Context(), b, res); err != nil {
		t.Fatal(err)
	}
	if got := statuses(res); got[publish.Accepted] != 10_000 {
		t.Fatalf("statuses %v", got)
	}
	s := p.Stats()
	if s.Requests != 100 || s.ThrottledTime < 9*time.Second || s.ThrottledTime > 10*time.Second || s.ThrottledWaits != 9 {
		t.Fatalf("stats %+v", s)
	}
	t.Logf("10,000 readings: %d requests, %v virtual wait, %v wall", s.Requests, s.ThrottledTime, time.Since(start).Round(time.Millisecond))
	noViolations(t, srv)
}

func TestTimestampWindow(t *testing.T) {
	clk := newFakeClock()
	srv := sitewisetest.New(t)
	srv.Now = clk.Now
	now := clk.Now()
	tests := []struct {
		name   string
		maxFut time.Duration
		at     time.Time
		want   publish.Status
		reason string
	}{
		{"now", 0, now, publish.Accepted, ""},
		{"6 days old", 0, now.Add(-6 * 24 * time.Hour), publish.Accepted, ""},
		{"8 days old", 0, now.Add(-8 * 24 * time.Hour), publish.Rejected, "old"},
		{"4 min ahead", 0, now.Add(4 * time.Minute), publish.Accepted, ""},
		// The API reference's window reaches 10 minutes ahead (not 5).
		{"6 min ahead", 0, now.Add(6 * time.Minute), publish.Accepted, ""},
		{"10 min ahead", 0, now.Add(10 * time.Minute), publish.Accepted, ""},
		{"11 min ahead", 0, now.Add(11 * time.Minute), publish.Rejected, "ahead"},
		// A lenient client bound lets it through; the service refuses it.
		{"12 min ahead, server refuses", time.Hour, now.Add(12 * time.Minute), publish.Rejected, "TimestampOutOfRangeException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPublisher(t, srv, Opts{Clock: clk, MaxFuture: tt.maxFut})
			b := &pipeline.Batch{ID: 1, Readings: []pipeline.Reading{{Seq: 1, Metric: "rpm", Time: tt.at, Value: 1, Count: 1}}}
			res := make([]publish.Result, 1)
			if err := p.Send(t.Context(), b, res); err != nil {
				t.Fatal(err)
			}
			if res[0].Status != tt.want || !strings.Contains(res[0].Reason, tt.reason) {
				t.Fatalf("got %v %q, want %v containing %q", res[0].Status, res[0].Reason, tt.want, tt.reason)
			}
			t.Logf("reason: %s", res[0].Reason)
			clk.Sleep(t.Context(), time.Second) // stay under the rate limit across subtests
		})
	}
	noViolations(t, srv)
}

func TestEntryErrors(t *testing.T) {
	tests := []struct {
		code string
		want publish.Status
	}{
		{"ThrottlingException", publish.Retry},
		{"InternalFailureException", publish.Retry},
		{"ServiceUnavailableException", publish.Retry},
		{"InvalidRequestException", publish.Rejected},
		{"ResourceNotFoundException", publish.Rejected},
		{"AccessDeniedException", publish.Rejected},
		{"ConflictingOperationException", publish.Rejected},
		{"LimitExceededException", publish.Rejected},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			srv := sitewisetest.New(t)
			// Partial failure: only odd-second values of m1 fail.
			srv.ValueError = func(alias string, v sitewisetest.TQV) string {
				if strings.HasSuffix(alias, "/m1") && *v.Timestamp.TimeInSeconds%2 == 1 {
					return tt.code
				}
				return ""
			}
			p := newPublisher(t, srv, Opts{})
			b := readings(metricNames(3), 10, time.Now())
			res := make([]publish.Result, len(b.Readings))
			if err := p.Send(t.Context(), b, res); err != nil {
				t.Fatal(err)
			}
			for i, r := range b.Readings {
				want, reason := publish.Accepted, ""
				if r.Metric == "m1" && r.Time.Unix()%2 == 1 {
					want, reason = tt.want, tt.code
				} else if r.Metric == "m1" {
					// Same entry, not named in an error: retried, never lost.
					want, reason = publish.Retry, "not named"
				}
				if res[i].Status != want || !strings.Contains(res[i].Reason, reason) {
					t.Fatalf("reading %d (%s %v): %v %q, want %v with %q", i, r.Metric, r.Time, res[i].Status, res[i].Reason, want, reason)
				}
			}
			s := p.Stats()
			if tt.want == publish.Rejected && s.RejectedByCode[tt.code] != 5 || tt.want == publish.Retry && s.RetriedByCode[tt.code] != 5 {
				t.Fatalf("stats %+v", s)
			}
			noViolations(t, srv)
		})
	}
}

func TestRequestErrors(t *testing.T) {
	tests := []struct {
		name     string
		fault    func(n int) *sitewisetest.Fault
		want     publish.Status
		wantErr  bool
		requests int // HTTP requests the server saw
	}{
		{"429 then success", func(n int) *sitewisetest.Fault {
			if n == 1 {
				return &sitewisetest.Fault{Status: 429, Code: "ThrottlingException", Message: "Rate exceeded"}
			}
			return nil
		}, publish.Accepted, false, 2},
		{"503 then success", func(n int) *sitewisetest.Fault {
			if n == 1 {
				return &sitewisetest.Fault{Status: 503, Code: "ServiceUnavailableException", Message: "try later"}
			}
			return nil
		}, publish.Accepted, false, 2},
		{"500 always", func(int) *sitewisetest.Fault {
			return &sitewisetest.Fault{Status: 500, Code: "InternalFailureException", Message: "boom"}
		}, publish.Retry, true, 3},
		{"403 access denied", func(int) *sitewisetest.Fault {
			return &sitewisetest.Fault{Status: 403, Code: "AccessDeniedException", Message: "not allowed to BatchPutAssetPropertyValue"}
		}, publish.Retry, true, 1}, // a permission to fix, not bad readings
		{"403 expired token", func(int) *sitewisetest.Fault {
			return &sitewisetest.Fault{Status: 403, Code: "ExpiredTokenException", Message: "token expired"}
		}, publish.Retry, true, 1},
		{"400 invalid", func(int) *sitewisetest.Fault {
			return &sitewisetest.Fault{Status: 400, Code: "InvalidRequestException", Message: "bad alias"}
		}, publish.Rejected, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := sitewisetest.New(t)
			srv.Fault = func(n int, _ *sitewisetest.Request) *sitewisetest.Fault { return tt.fault(n) }
			p := newPublisher(t, srv, Opts{})
			b := readings(metricNames(2), 3, time.Now())
			res := make([]publish.Result, len(b.Readings))
			err := p.Send(t.Context(), b, res)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			for i, r := range res {
				if r.Status != tt.want {
					t.Fatalf("reading %d: %v %q, want %v", i, r.Status, r.Reason, tt.want)
				}
				if r.Status != publish.Accepted && r.Reason == "" {
					t.Fatalf("reading %d: no reason", i)
				}
			}
			if n := len(srv.Requests()); n != tt.requests || p.Stats().Attempts != uint64(n) {
				t.Fatalf("server saw %d requests, want %d; stats %+v", n, tt.requests, p.Stats())
			}
			t.Logf("stats %+v; err %v; reason %q", p.Stats(), err, res[0].Reason)
			noViolations(t, srv)
		})
	}
}

// TestSignatureChecked: the server really verifies SigV4; a wrong secret
// is refused (and, being a credentials problem, retried).
func TestSignatureChecked(t *testing.T) {
	srv := sitewisetest.New(t)
	srv.SecretKey = "not-the-secret"
	p := newPublisher(t, srv, Opts{MaxAttempts: 1})
	b := readings(metricNames(1), 1, time.Now())
	res := make([]publish.Result, 1)
	if err := p.Send(t.Context(), b, res); err == nil || res[0].Status != publish.Retry {
		t.Fatalf("err %v, result %v", err, res[0])
	}
	if v := srv.Violations(); len(v) != 1 || !strings.Contains(v[0], "signature mismatch") {
		t.Fatalf("violations %v", v)
	}
}

func TestNetworkError(t *testing.T) {
	srv := sitewisetest.New(t)
	p := newPublisher(t, srv, Opts{MaxAttempts: 1})
	srv.Close()
	b := readings(metricNames(1), 2, time.Now())
	res := make([]publish.Result, len(b.Readings))
	err := p.Send(t.Context(), b, res)
	if err == nil || statuses(res)[publish.Retry] != 2 {
		t.Fatalf("err %v, results %v", err, res)
	}
	if s := p.Stats(); s.RequestErrors["network"] != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestValues(t *testing.T) {
	srv := sitewisetest.New(t)
	p := newPublisher(t, srv, Opts{BoolMetrics: []string{"flame_present"}})
	at := time.Now().Truncate(time.Second).Add(123456789)
	b := &pipeline.Batch{ID: 3, Readings: []pipeline.Reading{
		{Seq: 1, Metric: "rpm", Time: at, Value: 1512.5, Count: 1},
		{Seq: 2, Metric: "hot_c", Time: at, Value: 180.25, Quality: pipeline.Uncertain, Count: 1},
		{Seq: 3, Metric: "cold_c", Time: at, Value: 40, Quality: pipeline.Bad, Count: 1},
		{Seq: 4, Metric: "engine_state", Time: at, Text: "running", Count: 1},
		{Seq: 5, Metric: "flame_present", Time: at, Value: 1, Count: 1},
		{Seq: 6, Metric: "rpm", Time: at.Add(time.Second), Value: math.NaN(), Count: 1},
	}}
	res := make([]publish.Result, len(b.Readings))
	if err := p.Send(t.Context(), b, res); err != nil {
		t.Fatal(err)
	}
	if res[5].Status != publish.Rejected {
		t.Fatalf("NaN: %v", res[5])
	}
	got := map[string]string{}
	for _, s := range srv.Stored() {
		v, _ := json.Marshal(s.Value)
		got[s.Alias] = fmt.Sprintf("%s %s %d.%09d", v, s.Quality, s.Time.Unix(), s.Time.Nanosecond())
	}
	ts := fmt.Sprintf("%d.123456789", at.Unix())
	want := map[string]string{
		"/stirling/pi-01/rpm":           `{"doubleValue":1512.5} GOOD ` + ts,
		"/stirling/pi-01/hot_c":         `{"doubleValue":180.25} UNCERTAIN ` + ts,
		"/stirling/pi-01/cold_c":        `{"doubleValue":40} BAD ` + ts,
		"/stirling/pi-01/engine_state":  `{"stringValue":"running"} GOOD ` + ts,
		"/stirling/pi-01/flame_present": `{"booleanValue":true} GOOD ` + ts,
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: got %q, want %q", k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("stored %v", got)
	}
	noViolations(t, srv)
}

func TestNew(t *testing.T) {
	cfg := &aws.Config{Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")}
	tests := []struct {
		name    string
		o       Opts
		wantErr error
		alias   string
	}{
		{"default", Opts{Thing: "pi-01", AWSConfig: cfg}, nil, "/stirling/pi-01/rpm"},
		{"custom", Opts{Thing: "pi-01", AliasTemplate: "engmon/{thing}/{metric}", AWSConfig: cfg}, nil, "engmon/pi-01/rpm"},
		{"no metric", Opts{Thing: "pi-01", AliasTemplate: "/x/{thing}", AWSConfig: cfg}, ErrTemplate, ""},
		{"no thing", Opts{AWSConfig: cfg}, ErrTemplate, ""},
		{"no region", Opts{Thing: "x", AWSConfig: &aws.Config{}}, ErrNoRegion, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(t.Context(), &tt.o)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if err == nil && p.Alias("rpm") != tt.alias {
				t.Fatalf("alias %q, want %q", p.Alias("rpm"), tt.alias)
			}
		})
	}
}

// TestGreengrassCredentials runs the SDK's default chain as under
// Greengrass: credentials from the token exchange service at
// AWS_CONTAINER_CREDENTIALS_FULL_URI, authorized with
// AWS_CONTAINER_AUTHORIZATION_TOKEN, and the region from AWS_REGION.
func TestGreengrassCredentials(t *testing.T) {
	const svcuid = "tes-token-123"
	var tesCalls int
	var mu sync.Mutex
	tes := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		tesCalls++
		mu.Unlock()
		if r.Header.Get("Authorization") != svcuid {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{
			"AccessKeyId": "ASIATESTTES", "SecretAccessKey": "secret", "Token": "tes-session",
			"Expiration": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
		})
	}))
	defer tes.Close()
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_CONTAINER_CREDENTIALS_FULL_URI": tes.URL + "/2016-11-01/credentialprovider/",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN":  svcuid,
		"AWS_REGION":                         "eu-central-1",
		"AWS_ACCESS_KEY_ID":                  "",
		"AWS_SECRET_ACCESS_KEY":              "",
		"AWS_SESSION_TOKEN":                  "",
		"AWS_PROFILE":                        "",
		"AWS_CONFIG_FILE":                    dir + "/config",
		"AWS_SHARED_CREDENTIALS_FILE":        dir + "/credentials",
		"AWS_EC2_METADATA_DISABLED":          "true",
		"AWS_WEB_IDENTITY_TOKEN_FILE":        "",
		"AWS_ENDPOINT_URL":                   "",
	} {
		t.Setenv(k, v)
	}
	srv := sitewisetest.New(t)
	srv.SecurityToken = "tes-session"
	srv.SecretKey = "secret"
	p, err := New(t.Context(), &Opts{Thing: "pi-01", Endpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	b := readings(metricNames(1), 2, time.Now())
	res := make([]publish.Result, len(b.Readings))
	if err := p.Send(t.Context(), b, res); err != nil {
		t.Fatal(err)
	}
	if statuses(res)[publish.Accepted] != 2 {
		t.Fatalf("results %v", res)
	}
	auth := srv.Requests()[0].Header.Get("Authorization")
	if !strings.Contains(auth, "Credential=ASIATESTTES/") || !strings.Contains(auth, "/eu-central-1/iotsitewise/aws4_request") {
		t.Fatalf("Authorization %q", auth)
	}
	if tesCalls != 1 {
		t.Fatalf("%d TES calls", tesCalls)
	}
	noViolations(t, srv)

	// TES refusing is a retry, not a rejection.
	t.Setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "wrong")
	p2, err := New(t.Context(), &Opts{Thing: "pi-01", Endpoint: srv.URL, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	res = make([]publish.Result, len(b.Readings))
	err = p2.Send(t.Context(), b, res)
	if err == nil || statuses(res)[publish.Retry] != 2 || p2.Stats().RequestErrors["credentials"] != 1 {
		t.Fatalf("TES refusing: err %v, results %v, stats %+v", err, res, p2.Stats())
	}
}

// recorder is an aws.HTTPClient that records requests and answers success.
type recorder struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	r.mu.Unlock()
	return &http.Response{
		StatusCode: 200, Status: "200 OK", Request: req,
		Header: http.Header{"Content-Type": {"application/json"}},
		Body:   io.NopCloser(strings.NewReader(`{"errorEntries":[]}`)),
	}, nil
}

// TestProductionEndpoint: without an override the request goes to the
// data-plane host, data.iotsitewise.<region>.amazonaws.com, over HTTPS.
func TestProductionEndpoint(t *testing.T) {
	rec := &recorder{}
	p, err := New(t.Context(), &Opts{Thing: "pi-01", AWSConfig: &aws.Config{
		Region: "eu-west-1", HTTPClient: rec, Credentials: credentials.NewStaticCredentialsProvider("a", "b", ""),
	}})
	if err != nil {
		t.Fatal(err)
	}
	b := readings(metricNames(1), 1, time.Now())
	res := make([]publish.Result, 1)
	if err := p.Send(t.Context(), b, res); err != nil {
		t.Fatal(err)
	}
	if len(rec.reqs) != 1 {
		t.Fatalf("%d requests", len(rec.reqs))
	}
	u := rec.reqs[0].URL
	if u.Scheme != "https" || u.Host != "data.iotsitewise.eu-west-1.amazonaws.com" || u.Path != "/properties" || rec.reqs[0].Method != "POST" {
		t.Fatalf("request %s %s", rec.reqs[0].Method, u)
	}
	if res[0].Status != publish.Accepted {
		t.Fatalf("result %v", res[0])
	}
}

// cancelOnSleep cancels the context when the publisher starts to wait.
type cancelOnSleep struct {
	*clocktest.Fake
	cancel context.CancelFunc
}

func (c cancelOnSleep) Sleep(ctx context.Context, d time.Duration) error {
	c.cancel()
	return c.Fake.Sleep(ctx, d)
}

func TestSendCanceledWhileThrottled(t *testing.T) {
	clk := newFakeClock()
	srv := sitewisetest.New(t)
	srv.Now = clk.Now
	ctx, cancel := context.WithCancel(t.Context())
	p := newPublisher(t, srv, Opts{Clock: cancelOnSleep{clk, cancel}})
	b := readings(metricNames(1), 200, clk.Now()) // 20 entries of one alias: the second request must wait
	res := make([]publish.Result, len(b.Readings))
	err := p.Send(ctx, b, res)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
	if got := statuses(res); got[publish.Accepted] != 100 || got[publish.Retry] != 100 {
		t.Fatalf("statuses %v", got)
	}
	if n := len(srv.Requests()); n != 1 {
		t.Fatalf("%d requests", n)
	}
}

func BenchmarkSend(b *testing.B) {
	srv := sitewisetest.New(b)
	clk := newFakeClock()
	srv.Now = clk.Now
	p, err := New(b.Context(), &Opts{Thing: "pi-01", Endpoint: srv.URL, Clock: clk,
		AWSConfig: &aws.Config{Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")}})
	if err != nil {
		b.Fatal(err)
	}
	bt := readings(metricNames(10), 10, clk.Now())
	res := make([]publish.Result, len(bt.Readings))
	b.ReportAllocs()
	for b.Loop() {
		clk.Sleep(b.Context(), time.Second)
		for i := range bt.Readings {
			bt.Readings[i].Time = bt.Readings[i].Time.Add(time.Second)
		}
		clear(res)
		if err := p.Send(b.Context(), bt, res); err != nil {
			b.Fatal(err)
		}
	}
}

// A Send that Fits puts every property's readings in one entry: SiteWise
// meters it as one unit per 10 data points.
func TestPackedEntriesBilling(t *testing.T) {
	clk := newFakeClock()
	srv := sitewisetest.New(t)
	srv.Now = clk.Now
	p := newPublisher(t, srv, Opts{Clock: clk, MaxLatency: 10 * time.Second})
	if p.MaxLatency() != 10*time.Second {
		t.Fatalf("MaxLatency %v", p.MaxLatency())
	}
	metrics := []string{"rpm", "hot_cylinder_c", "cold_cylinder_c", "flame_c", "delta_t", "carnot_limit", "hot_cylinder_pixels", "flame_c_max", "cold_cylinder_c_p90", "flame_pixels", "hot_cylinder_c_min", "engine_state"}
	b := &pipeline.Batch{ID: 1}
	seq := uint64(1)
	for s := range 10 {
		for _, m := range metrics {
			r := pipeline.Reading{Seq: seq, Metric: m, Time: clk.Now().Add(time.Duration(s-10) * time.Second), Value: float64(seq) / 3, Count: 1}
			if m == "engine_state" {
				r.Text = "running"
			}
			b.Readings = append(b.Readings, r)
			seq++
		}
	}
	if !p.Fits(b) {
		t.Fatal("10 values per property do not fit")
	}
	res := make([]publish.Result, len(b.Readings))
	if err := p.Send(t.Context(), b, res); err != nil {
		t.Fatal(err)
	}
	if got := statuses(res); got[publish.Accepted] != len(b.Readings) {
		t.Fatalf("statuses %v", got)
	}
	bill := srv.Billing()
	if bill.Points != 120 || bill.Units != 12 || bill.Requests != 2 {
		t.Errorf("billing %+v, want 120 points in 12 units over 2 requests", bill)
	}
	b.Readings = append(b.Readings, pipeline.Reading{Seq: seq, Metric: "rpm", Time: clk.Now(), Value: 1, Count: 1})
	if p.Fits(b) {
		t.Error("an 11th rpm value fits")
	}
	noViolations(t, srv)
}
