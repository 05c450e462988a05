// Package sitewisetest runs a local AWS IoT SiteWise data-plane endpoint for
// tests: an HTTP server that speaks BatchPutAssetPropertyValue's REST-JSON
// wire format (reference greengrass.md §4.1-4.2) and checks each request as
// the service would: POST /properties, JSON content, a SigV4 Authorization
// header, 1-10 entries with unique entry ids matching ^[a-zA-Z0-9_-]+$,
// 1-10 values per entry with exactly one value field, the timestamp window
// [now-7d, now+10min] and at most 10 entries per second per property. It
// answers with per-entry errorEntries, and faults can be injected per
// request (HTTP status and error code) and per value (entry error code).
package sitewisetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Service rules the server enforces.
const (
	MaxEntries = 10
	MaxValues  = 10
	Rate       = 10 // entries per second per property
	MaxAge     = 7 * 24 * time.Hour
	MaxFuture  = 10 * time.Minute
)

var entryIDPattern = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// Variant is a value; exactly one field must be set.
type Variant struct {
	DoubleValue  *float64 `json:"doubleValue,omitempty"`
	IntegerValue *int32   `json:"integerValue,omitempty"`
	BooleanValue *bool    `json:"booleanValue,omitempty"`
	StringValue  *string  `json:"stringValue,omitempty"`
}

// Timestamp is a value's time.
type Timestamp struct {
	TimeInSeconds *int64 `json:"timeInSeconds"`
	OffsetInNanos *int32 `json:"offsetInNanos,omitempty"`
}

// Time converts t.
func (t Timestamp) Time() time.Time {
	var s int64
	var ns int32
	if t.TimeInSeconds != nil {
		s = *t.TimeInSeconds
	}
	if t.OffsetInNanos != nil {
		ns = *t.OffsetInNanos
	}
	return time.Unix(s, int64(ns))
}

// TQV is one timestamp-quality-value.
type TQV struct {
	Value     *Variant   `json:"value"`
	Timestamp *Timestamp `json:"timestamp"`
	Quality   *string    `json:"quality,omitempty"`
}

// Entry is one PutAssetPropertyValueEntry.
type Entry struct {
	EntryID        string  `json:"entryId"`
	PropertyAlias  *string `json:"propertyAlias,omitempty"`
	AssetID        *string `json:"assetId,omitempty"`
	PropertyID     *string `json:"propertyId,omitempty"`
	PropertyValues []TQV   `json:"propertyValues"`
}

// Request is one received request.
type Request struct {
	Header  http.Header
	Entries []Entry
}

// Fault is a whole-request failure: HTTP status, error code (sent as
// X-Amzn-ErrorType) and message.
type Fault struct {
	Status  int
	Code    string
	Message string
}

// Stored is one accepted value.
type Stored struct {
	Alias   string
	Time    time.Time
	Quality string
	Value   Variant
}

// Server is the fake endpoint. Set the hooks before the first request.
type Server struct {
	*httptest.Server

	// Now is the server's clock (window and rate checks); default time.Now.
	Now func() time.Time
	// Fault, if set, may fail request n (from 1) as a whole.
	Fault func(n int, r *Request) *Fault
	// ValueError, if set, returns an entry error code for one value
	// (e.g. "InvalidRequestException"), or "" to accept it.
	ValueError func(alias string, v TQV) string
	// SecurityToken, if set, must arrive as X-Amz-Security-Token.
	SecurityToken string
	// SecretKey, if set, is the client's secret access key: the server then
	// recomputes the SigV4 signature and refuses a mismatch.
	SecretKey string

	mu         sync.Mutex
	n          int
	requests   []Request
	stored     []Stored
	violations []string
	sent       map[string][]time.Time // alias -> accepted entry times (server clock)
	bill       Billing
}

// Billing is what SiteWise's near-real-time ingestion would meter for the
// values this server stored, by the rule documented in docs/sitewise.md:
// per request and per data stream (property alias), the larger of the
// stored points / 10 and their bytes / 1 KB, each rounded up. A value's
// bytes are its payload (8 for a double, 4 for an integer, 1 for a
// boolean, the length of a string) plus 12 for its timestamp (seconds and
// nanoseconds) and 1 for its quality.
type Billing struct {
	Requests int // requests that stored at least one value
	Points   int // values stored
	Bytes    int // their size by the rule above
	Units    int // billable units
	// Partial counts the data streams of a request metered with fewer
	// than 10 points (a unit not filled).
	Partial int
}

// PointBytes is a value's size under the Billing rule.
func PointBytes(v Variant) int {
	n := 12 + 1
	switch {
	case v.DoubleValue != nil:
		n += 8
	case v.IntegerValue != nil:
		n += 4
	case v.BooleanValue != nil:
		n++
	case v.StringValue != nil:
		n += len(*v.StringValue)
	}
	return n
}

// Billing returns the units metered so far.
func (s *Server) Billing() Billing {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bill
}

// meter adds one request's stored values, stored[from:], to the bill.
func (s *Server) meter(from int) {
	type stream struct{ points, bytes int }
	per := map[string]*stream{}
	for _, v := range s.stored[from:] {
		st := per[v.Alias]
		if st == nil {
			st = &stream{}
			per[v.Alias] = st
		}
		st.points++
		st.bytes += PointBytes(v.Value)
	}
	if len(per) == 0 {
		return
	}
	s.bill.Requests++
	for _, st := range per {
		s.bill.Points += st.points
		s.bill.Bytes += st.bytes
		s.bill.Units += max((st.points+9)/10, (st.bytes+1023)/1024)
		if st.points%10 != 0 {
			s.bill.Partial++
		}
	}
}

// New starts a server and closes it when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{Now: time.Now, sent: map[string][]time.Time{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.handle))
	t.Cleanup(s.Close)
	return s
}

// Requests returns the requests received (well-formed or not).
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Stored returns the accepted values in arrival order.
func (s *Server) Stored() []Stored {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.stored)
}

// Violations returns every rule a client broke.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.violations)
}

func (s *Server) violate(format string, args ...any) {
	s.violations = append(s.violations, fmt.Sprintf(format, args...))
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

type entryError struct {
	ErrorCode    string      `json:"errorCode"`
	ErrorMessage string      `json:"errorMessage"`
	Timestamps   []Timestamp `json:"timestamps"`
}

type errorEntry struct {
	EntryID string        `json:"entryId"`
	Errors  []*entryError `json:"errors"`
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	if r.Method != http.MethodPost || r.URL.Path != "/properties" {
		s.violate("request %d: %s %s, want POST /properties", s.n, r.Method, r.URL.Path)
		writeError(w, http.StatusNotFound, "ResourceNotFoundException", "no such operation")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		s.violate("request %d: content type %q", s.n, ct)
	}
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=") || !strings.Contains(auth, "/iotsitewise/aws4_request") ||
		!strings.Contains(auth, "SignedHeaders=") || !strings.Contains(auth, "Signature=") || r.Header.Get("X-Amz-Date") == "" {
		s.violate("request %d: no SigV4 signature for iotsitewise: %q", s.n, auth)
		writeError(w, http.StatusForbidden, "UnrecognizedClientException", "missing or invalid signature")
		return
	}
	if s.SecurityToken != "" && r.Header.Get("X-Amz-Security-Token") != s.SecurityToken {
		s.violate("request %d: security token %q", s.n, r.Header.Get("X-Amz-Security-Token"))
		writeError(w, http.StatusForbidden, "UnrecognizedClientException", "bad security token")
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "InvalidRequestException", err.Error())
		return
	}
	if s.SecretKey != "" {
		if msg := verifySignature(r, body, s.SecretKey); msg != "" {
			s.violate("request %d: %s", s.n, msg)
			writeError(w, http.StatusForbidden, "InvalidSignatureException", msg)
			return
		}
	}
	var in struct {
		Entries                      []Entry `json:"entries"`
		EnablePartialEntryProcessing *bool   `json:"enablePartialEntryProcessing,omitempty"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		s.violate("request %d: body %s: %v", s.n, body, err)
		writeError(w, http.StatusBadRequest, "InvalidRequestException", "malformed body")
		return
	}
	req := Request{Header: r.Header.Clone(), Entries: in.Entries}
	s.requests = append(s.requests, req)
	if msg := s.validate(in.Entries); msg != "" {
		s.violate("request %d: %s", s.n, msg)
		writeError(w, http.StatusBadRequest, "InvalidRequestException", msg)
		return
	}
	if s.Fault != nil {
		if f := s.Fault(s.n, &req); f != nil {
			writeError(w, f.Status, f.Code, f.Message)
			return
		}
	}

	now := s.Now()
	defer s.meter(len(s.stored))
	var out []errorEntry
	for _, e := range in.Entries {
		alias := *e.PropertyAlias
		var errs []*entryError
		add := func(code, msg string, ts Timestamp) {
			for _, x := range errs {
				if x.ErrorCode == code {
					x.Timestamps = append(x.Timestamps, ts)
					return
				}
			}
			errs = append(errs, &entryError{ErrorCode: code, ErrorMessage: msg, Timestamps: []Timestamp{ts}})
		}
		// At most Rate entries per second per property.
		recent := s.sent[alias][:0]
		for _, t := range s.sent[alias] {
			if now.Sub(t) < time.Second {
				recent = append(recent, t)
			}
		}
		s.sent[alias] = recent
		if len(recent) >= Rate {
			s.violate("request %d: property %s: more than %d entries in one second", s.n, alias, Rate)
			for _, v := range e.PropertyValues {
				add("ThrottlingException", "Rate exceeded", *v.Timestamp)
			}
			out = append(out, errorEntry{e.EntryID, errs})
			continue
		}
		s.sent[alias] = append(s.sent[alias], now)
		for _, v := range e.PropertyValues {
			t := v.Timestamp.Time()
			if t.Before(now.Add(-MaxAge)) || t.After(now.Add(MaxFuture)) {
				add("TimestampOutOfRangeException", "Timestamp out of range", *v.Timestamp)
				continue
			}
			if s.ValueError != nil {
				if code := s.ValueError(alias, v); code != "" {
					add(code, "injected "+code, *v.Timestamp)
					continue
				}
			}
			q := "GOOD"
			if v.Quality != nil {
				q = *v.Quality
			}
			s.stored = append(s.stored, Stored{Alias: alias, Time: t, Quality: q, Value: *v.Value})
		}
		if len(errs) > 0 {
			out = append(out, errorEntry{e.EntryID, errs})
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if out == nil {
		out = []errorEntry{}
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"errorEntries": out})
}

// validate applies the API's shape constraints; "" means valid.
func (s *Server) validate(es []Entry) string {
	if len(es) < 1 || len(es) > MaxEntries {
		return fmt.Sprintf("%d entries, want 1..%d", len(es), MaxEntries)
	}
	ids := map[string]bool{}
	for _, e := range es {
		if !entryIDPattern.MatchString(e.EntryID) {
			return fmt.Sprintf("entryId %q does not match ^[a-zA-Z0-9_-]+$ (1..64)", e.EntryID)
		}
		if ids[e.EntryID] {
			return fmt.Sprintf("duplicate entryId %q", e.EntryID)
		}
		ids[e.EntryID] = true
		if e.PropertyAlias == nil {
			return fmt.Sprintf("entry %s: no propertyAlias (this server serves aliases only)", e.EntryID)
		}
		if e.AssetID != nil || e.PropertyID != nil {
			return fmt.Sprintf("entry %s: both propertyAlias and assetId/propertyId", e.EntryID)
		}
		a := *e.PropertyAlias
		if a == "" || len(a) > 1000 || strings.IndexFunc(a, unicode.IsControl) >= 0 {
			return fmt.Sprintf("entry %s: invalid propertyAlias %q", e.EntryID, a)
		}
		if n := len(e.PropertyValues); n < 1 || n > MaxValues {
			return fmt.Sprintf("entry %s: %d values, want 1..%d", e.EntryID, n, MaxValues)
		}
		for _, v := range e.PropertyValues {
			if v.Value == nil || v.Timestamp == nil || v.Timestamp.TimeInSeconds == nil {
				return fmt.Sprintf("entry %s: value without value or timestamp", e.EntryID)
			}
			n := 0
			for _, set := range []bool{v.Value.DoubleValue != nil, v.Value.IntegerValue != nil, v.Value.BooleanValue != nil, v.Value.StringValue != nil} {
				if set {
					n++
				}
			}
			if n != 1 {
				return fmt.Sprintf("entry %s: %d value fields, want exactly 1", e.EntryID, n)
			}
			if o := v.Timestamp.OffsetInNanos; o != nil && (*o < 0 || *o > 999_999_999) {
				return fmt.Sprintf("entry %s: offsetInNanos %d", e.EntryID, *o)
			}
			if q := v.Quality; q != nil && *q != "GOOD" && *q != "BAD" && *q != "UNCERTAIN" {
				return fmt.Sprintf("entry %s: quality %q", e.EntryID, *q)
			}
		}
	}
	return ""
}

// verifySignature recomputes r's SigV4 signature over the headers it names
// as signed and compares; "" means it matches.
func verifySignature(r *http.Request, body []byte, secret string) string {
	auth := r.Header.Get("Authorization")
	fields := map[string]string{}
	for _, part := range strings.Split(strings.TrimPrefix(auth, "AWS4-HMAC-SHA256 "), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/") // AKID/date/region/service/aws4_request
	if len(scope) != 5 {
		return fmt.Sprintf("credential scope %q", fields["Credential"])
	}
	at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return fmt.Sprintf("X-Amz-Date: %v", err)
	}
	req, _ := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	for _, h := range strings.Split(fields["SignedHeaders"], ";") {
		switch h {
		case "host", "content-length":
		default:
			req.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: scope[0], SecretAccessKey: secret, SessionToken: r.Header.Get("X-Amz-Security-Token")}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), scope[3], scope[2], at); err != nil {
		return fmt.Sprintf("re-sign: %v", err)
	}
	if got, want := auth, req.Header.Get("Authorization"); got != want {
		return fmt.Sprintf("signature mismatch:\n got  %s\n want %s", got, want)
	}
	return ""
}
