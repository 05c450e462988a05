package sitewise

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/iotsitewise"
	"github.com/aws/aws-sdk-go-v2/service/iotsitewise/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/stirling-iot/stirling/internal/clock"
	"github.com/stirling-iot/stirling/pipeline"
	"github.com/stirling-iot/stirling/publish"
)

// Service limits (reference greengrass.md §4.1, §4.3).
const (
	MaxEntries        = 10 // entries per BatchPutAssetPropertyValue request
	MaxValues         = 10 // values (TQVs) per entry
	MaxAliasLen       = 1000
	DefaultRate       = 10 // entries per second per property, not adjustable
	DefaultMaxAge     = 7 * 24 * time.Hour
	DefaultMaxFuture  = 5 * time.Minute
	DefaultTemplate   = "/stirling/{thing}/{metric}"
	defaultName       = "sitewise"
	maxEntryIDLen     = 64
	maxRequestTimeout = time.Minute
)

// Errors.
var (
	ErrNoRegion = errors.New("sitewise: no AWS region (set region or AWS_REGION)")
	ErrTemplate = errors.New("sitewise: invalid alias template")
	ErrEndpoint = errors.New("sitewise: endpoint not allowed")
)

// ValidateEndpoint checks an endpoint override: an absolute https:// URL
// with a host, or http:// only to a loopback address (127.0.0.0/8, ::1,
// localhost), which is what tests and a local emulator use. Credentials
// and readings never travel in clear text to another machine.
func ValidateEndpoint(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || u.Hostname() == "" || u.User != nil {
		return fmt.Errorf("%w: %q: want an https:// URL with a host, e.g. https://data.iotsitewise.eu-west-1.amazonaws.com", ErrEndpoint, endpoint)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%w: %q: http:// is allowed only for a loopback address (127.0.0.1, ::1, localhost); want https://", ErrEndpoint, endpoint)
	}
	return fmt.Errorf("%w: %q: scheme %q; want https://", ErrEndpoint, endpoint, u.Scheme)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Opts configures a Publisher.
type Opts struct {
	// Name identifies the publisher; default "sitewise".
	Name string
	// Thing replaces {thing} in AliasTemplate.
	Thing string
	// AliasTemplate builds each property alias from {thing} and {metric};
	// default DefaultTemplate.
	AliasTemplate string
	// Region defaults to the AWS configuration (AWS_REGION, set by
	// Greengrass).
	Region string
	// Endpoint overrides the service URL (tests, VPC endpoints). The SDK's
	// "data." host prefix is then not added: give the data-plane URL itself.
	Endpoint string
	// BoolMetrics are sent as booleanValue (Value != 0), for properties of
	// type BOOLEAN (e.g. flame_present). Other numeric metrics are sent as
	// doubleValue, string metrics (Reading.Text set) as stringValue.
	BoolMetrics []string
	// MaxAge and MaxFuture bound reading timestamps relative to now: SiteWise
	// refuses values older than 7 days or (documented) more than 5 minutes
	// ahead (the service now allows 10). Defaults DefaultMaxAge and
	// DefaultMaxFuture. Readings outside are rejected, never retried.
	MaxAge, MaxFuture time.Duration
	// Rate is the entries per second sent per property alias (default and
	// maximum 10, the service quota); sending waits rather than exceed it.
	Rate int
	// MaxAttempts is the SDK's attempts per request for retryable
	// request-level errors (HTTP 5xx, throttling, network); default 3.
	MaxAttempts int
	// MaxBackoff caps the SDK's retry backoff; default 20 s.
	MaxBackoff time.Duration
	// Clock times rate limiting and the timestamp window; default clock.Real.
	Clock clock.Clock
	// Logger; nil discards.
	Logger *slog.Logger
	// AWSConfig, when set, is used instead of config.LoadDefaultConfig,
	// whose default credential chain picks up the Greengrass token exchange
	// service through AWS_CONTAINER_CREDENTIALS_FULL_URI and
	// AWS_CONTAINER_AUTHORIZATION_TOKEN.
	AWSConfig *aws.Config
}

// Publisher is a publish.Publisher for AWS IoT SiteWise
// BatchPutAssetPropertyValue, addressing properties by alias. A reading is
// Accepted only when its entry came back without an error.
type Publisher struct {
	name      string
	thing     string
	template  string
	bools     map[string]bool
	maxAge    time.Duration
	maxFuture time.Duration
	rate      int
	clk       clock.Clock
	log       *slog.Logger
	client    *iotsitewise.Client

	mu      sync.Mutex // one Send at a time; guards buckets and aliases
	buckets map[string]*window
	aliases map[string]string // metric -> alias

	st stats
}

var _ publish.Publisher = (*Publisher)(nil)

// New builds a Publisher. It loads the AWS configuration (unless
// o.AWSConfig is set) but makes no request.
func New(ctx context.Context, o *Opts) (*Publisher, error) {
	var opts Opts
	if o != nil {
		opts = *o
	}
	p := &Publisher{
		name: opts.Name, thing: opts.Thing, template: opts.AliasTemplate,
		maxAge: opts.MaxAge, maxFuture: opts.MaxFuture, rate: opts.Rate,
		clk: opts.Clock, log: opts.Logger,
		bools: map[string]bool{}, buckets: map[string]*window{}, aliases: map[string]string{},
	}
	if p.name == "" {
		p.name = defaultName
	}
	if p.template == "" {
		p.template = DefaultTemplate
	}
	if !strings.Contains(p.template, "{metric}") {
		return nil, fmt.Errorf("%w: %q lacks {metric}", ErrTemplate, p.template)
	}
	if strings.Contains(p.template, "{thing}") && p.thing == "" {
		return nil, fmt.Errorf("%w: %q uses {thing} but no thing name is set", ErrTemplate, p.template)
	}
	if opts.Endpoint != "" {
		if err := ValidateEndpoint(opts.Endpoint); err != nil {
			return nil, err
		}
	}
	if p.maxAge <= 0 {
		p.maxAge = DefaultMaxAge
	}
	if p.maxFuture <= 0 {
		p.maxFuture = DefaultMaxFuture
	}
	if p.rate <= 0 || p.rate > DefaultRate {
		p.rate = DefaultRate
	}
	if p.clk == nil {
		p.clk = clock.Real{}
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.log = p.log.With("component", "sitewise", "publisher", p.name)
	for _, m := range opts.BoolMetrics {
		p.bools[m] = true
	}

	var cfg aws.Config
	if opts.AWSConfig != nil {
		cfg = opts.AWSConfig.Copy()
	} else {
		var err error
		cfg, err = config.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("sitewise: load AWS config: %w", err)
		}
	}
	if opts.Region != "" {
		cfg.Region = opts.Region
	}
	if cfg.Credentials != nil {
		cfg.Credentials = aws.NewCredentialsCache(markedCredentials{cfg.Credentials})
	}
	if cfg.Region == "" {
		return nil, ErrNoRegion
	}
	maxAttempts := opts.MaxAttempts
	if maxAttempts <= 0 {
		maxAttempts = retry.DefaultMaxAttempts
	}
	maxBackoff := opts.MaxBackoff
	if maxBackoff <= 0 {
		maxBackoff = retry.DefaultMaxBackoff
	}
	p.client = iotsitewise.NewFromConfig(cfg, func(so *iotsitewise.Options) {
		so.Retryer = retry.NewStandard(func(ro *retry.StandardOptions) {
			ro.MaxAttempts = maxAttempts
			ro.MaxBackoff = maxBackoff
			ro.Backoff = retry.NewExponentialJitterBackoff(maxBackoff)
		})
		so.APIOptions = append(so.APIOptions, p.countAttempts)
		if opts.Endpoint != "" {
			so.BaseEndpoint = aws.String(opts.Endpoint)
			so.APIOptions = append(so.APIOptions, disableHostPrefix)
		}
	})
	return p, nil
}

// disableHostPrefix stops the SDK from prepending "data." to an overridden
// endpoint's host (it would turn 127.0.0.1 into data.127.0.0.1).
func disableHostPrefix(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("StirlingDisableHostPrefix",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			return next.HandleInitialize(smithyhttp.DisableEndpointHostPrefix(ctx, true), in)
		}), middleware.Before)
}

// countAttempts counts HTTP attempts, the SDK's retries included: it sits
// at the end of the finalize step, after the retry middleware.
func (p *Publisher) countAttempts(stack *middleware.Stack) error {
	return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("StirlingCountAttempts",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			p.st.count(&p.st.attempts, 1)
			return next.HandleFinalize(ctx, in)
		}), middleware.After)
}

// Name implements publish.Publisher.
func (p *Publisher) Name() string { return p.name }

// Close implements publish.Publisher.
func (p *Publisher) Close() error { return nil }

// Alias returns the property alias for metric.
func (p *Publisher) Alias(metric string) string {
	r := strings.NewReplacer("{thing}", p.thing, "{metric}", metric)
	return r.Replace(p.template)
}

func (p *Publisher) alias(metric string) string {
	a, ok := p.aliases[metric]
	if !ok {
		a = p.Alias(metric)
		p.aliases[metric] = a
	}
	return a
}

func validAlias(a string) error {
	if a == "" || len(a) > MaxAliasLen {
		return fmt.Errorf("property alias %q: length %d outside 1..%d", a, len(a), MaxAliasLen)
	}
	if strings.IndexFunc(a, unicode.IsControl) >= 0 {
		return fmt.Errorf("property alias %q has a control character", a)
	}
	return nil
}

// entry is one PutAssetPropertyValueEntry: up to MaxValues readings of one
// alias.
type entry struct {
	id    string
	alias string
	idx   []int // reading indices
}

// Send implements publish.Publisher.
func (p *Publisher) Send(ctx context.Context, b *pipeline.Batch, res []publish.Result) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	rs := b.Readings
	now := p.clk.Now()
	oldest, newest := now.Add(-p.maxAge), now.Add(p.maxFuture)

	// Validate and group by alias, keeping first-appearance order.
	var order []string
	groups := map[string][]int{}
	for i := range rs {
		r := &rs[i]
		var reason string
		switch {
		case r.Time.Before(oldest):
			reason = fmt.Sprintf("timestamp %s is more than %v old, outside SiteWise's accepted window (reading quarantined)", r.Time.UTC().Format(time.RFC3339), p.maxAge)
			p.st.count(&p.st.outOfWindow, 1)
		case r.Time.After(newest):
			reason = fmt.Sprintf("timestamp %s is more than %v ahead of now (%s), outside SiteWise's accepted window; check the clock (reading quarantined)", r.Time.UTC().Format(time.RFC3339), p.maxFuture, now.UTC().Format(time.RFC3339))
			p.st.count(&p.st.outOfWindow, 1)
		case r.Text == "" && (math.IsNaN(r.Value) || math.IsInf(r.Value, 0)):
			reason = "value is not a finite number"
		}
		a := p.alias(r.Metric)
		if reason == "" {
			if err := validAlias(a); err != nil {
				reason = err.Error()
			}
		}
		if reason != "" {
			res[i] = publish.Result{Status: publish.Rejected, Reason: reason}
			p.st.rejectLocal(1)
			p.log.Warn("reading rejected before sending", "metric", r.Metric, "seq", r.Seq, "reason", reason)
			continue
		}
		if _, ok := groups[a]; !ok {
			order = append(order, a)
		}
		groups[a] = append(groups[a], i)
	}

	// Entries of up to MaxValues, interleaved across aliases so that each
	// request spreads over properties and no alias's rate stalls the rest.
	var entries []entry
	for round := 0; ; round++ {
		added := false
		for _, a := range order {
			idx := groups[a]
			lo := round * MaxValues
			if lo >= len(idx) {
				continue
			}
			hi := min(lo+MaxValues, len(idx))
			entries = append(entries, entry{alias: a, idx: idx[lo:hi], id: entryID(b.ID, len(entries))})
			added = true
		}
		if !added {
			break
		}
	}

	for start := 0; start < len(entries); start += MaxEntries {
		req := entries[start:min(start+MaxEntries, len(entries))]
		if err := p.waitRate(ctx, req); err != nil {
			p.retryRest(res, entries[start:], err)
			return fmt.Errorf("sitewise: batch %d: %w", b.ID, err)
		}
		if err := p.put(ctx, rs, req, res); err != nil {
			p.retryRest(res, entries[start:], err)
			return fmt.Errorf("sitewise: batch %d: %w", b.ID, err)
		}
	}
	return nil
}

// entryID is unique within a Send (and so within a request) and matches
// ^[a-zA-Z0-9_-]+$, at most 64 characters.
func entryID(batch uint64, k int) string {
	return "b" + strconv.FormatUint(batch, 10) + "-" + strconv.Itoa(k)
}

// retryRest leaves every reading of es still undecided as Retry with err as
// the reason.
func (p *Publisher) retryRest(res []publish.Result, es []entry, err error) {
	n := 0
	for _, e := range es {
		for _, i := range e.idx {
			if res[i].Status == publish.Retry {
				res[i].Reason = err.Error()
				n++
			}
		}
	}
	p.st.count(&p.st.retried, uint64(n))
}

// put sends one request and records each reading's outcome. It returns an
// error only for a retryable whole-request failure.
func (p *Publisher) put(ctx context.Context, rs []pipeline.Reading, es []entry, res []publish.Result) error {
	in := &iotsitewise.BatchPutAssetPropertyValueInput{Entries: make([]types.PutAssetPropertyValueEntry, len(es))}
	for k, e := range es {
		vals := make([]types.AssetPropertyValue, len(e.idx))
		for j, i := range e.idx {
			vals[j] = p.value(&rs[i])
		}
		in.Entries[k] = types.PutAssetPropertyValueEntry{
			EntryId:        aws.String(e.id),
			PropertyAlias:  aws.String(e.alias),
			PropertyValues: vals,
		}
	}
	p.st.count(&p.st.requests, 1)
	ctx, cancel := context.WithTimeout(ctx, maxRequestTimeout)
	defer cancel()
	out, err := p.client.BatchPutAssetPropertyValue(ctx, in)
	if err != nil {
		code, retryable := classify(err)
		p.st.requestError(code)
		if unauthorizedCodes[code] {
			// The role lacks the permission, or the key is unknown: an
			// operator's fix, not the readings' fault. They wait in the
			// spool (the runner logs the failure once, then a minute).
			p.log.Debug("request refused: not authorized; will retry", "code", code, "err", err)
			return fmt.Errorf("sitewise: request refused: %s: %s (%w): %w", code, errMessage(err), publish.ErrUnauthorized, err)
		}
		if retryable {
			p.log.Debug("request failed; will retry", "code", code, "err", err)
			return err
		}
		reason := "SiteWise rejected the request: " + code + ": " + errMessage(err)
		n := 0
		for _, e := range es {
			for _, i := range e.idx {
				res[i] = publish.Result{Status: publish.Rejected, Reason: reason}
				n++
			}
		}
		p.st.rejectCode(code, uint64(n))
		p.log.Error("request rejected", "code", code, "readings", n, "err", err)
		return nil
	}

	failed := map[string][]types.BatchPutAssetPropertyError{}
	for _, ee := range out.ErrorEntries {
		if ee.EntryId != nil {
			failed[*ee.EntryId] = append(failed[*ee.EntryId], ee.Errors...)
		}
	}
	for _, e := range es {
		errs, bad := failed[e.id]
		if !bad {
			for _, i := range e.idx {
				res[i] = publish.Result{Status: publish.Accepted}
			}
			p.st.count(&p.st.accepted, uint64(len(e.idx)))
			continue
		}
		p.entryErrors(rs, e, errs, res)
	}
	return nil
}

// entryErrors applies an error entry to its readings. An error that lists
// timestamps applies to the readings with those timestamps, one without
// timestamps to the whole entry. Readings of a failed entry that no error
// names are retried: whether SiteWise stored them is unknown, and a
// repeated value at the same timestamp simply overwrites.
func (p *Publisher) entryErrors(rs []pipeline.Reading, e entry, errs []types.BatchPutAssetPropertyError, res []publish.Result) {
	decided := map[int]bool{}
	for _, be := range errs {
		code := string(be.ErrorCode)
		retryable := retryableEntryCode(code)
		reason := code
		if be.ErrorMessage != nil {
			reason += ": " + *be.ErrorMessage
		}
		for _, i := range e.idx {
			if decided[i] || (len(be.Timestamps) > 0 && !hasTimestamp(be.Timestamps, rs[i].Time)) {
				continue
			}
			decided[i] = true
			if retryable {
				res[i] = publish.Result{Status: publish.Retry, Reason: reason}
				p.st.retryCode(code, 1)
			} else {
				res[i] = publish.Result{Status: publish.Rejected, Reason: "SiteWise rejected the value: " + reason}
				p.st.rejectCode(code, 1)
			}
		}
		if !retryable {
			p.log.Error("values rejected", "alias", e.alias, "code", code, "err", reason)
		}
	}
	for _, i := range e.idx {
		if !decided[i] {
			res[i] = publish.Result{Status: publish.Retry, Reason: "entry " + e.id + " failed; value not named in its errors"}
			p.st.retryCode("unlisted", 1)
		}
	}
}

func hasTimestamp(ts []types.TimeInNanos, t time.Time) bool {
	s, ns := t.Unix(), int32(t.Nanosecond())
	for _, x := range ts {
		if aws.ToInt64(x.TimeInSeconds) == s && aws.ToInt32(x.OffsetInNanos) == ns {
			return true
		}
	}
	return false
}

// value converts a reading to a TQV.
func (p *Publisher) value(r *pipeline.Reading) types.AssetPropertyValue {
	var v types.Variant
	switch {
	case r.Text != "":
		v.StringValue = aws.String(r.Text)
	case p.bools[r.Metric]:
		v.BooleanValue = aws.Bool(r.Value != 0)
	default:
		v.DoubleValue = aws.Float64(r.Value)
	}
	q := types.QualityGood
	switch r.Quality {
	case pipeline.Uncertain:
		q = types.QualityUncertain
	case pipeline.Bad:
		q = types.QualityBad
	}
	return types.AssetPropertyValue{
		Value:     &v,
		Quality:   q,
		Timestamp: &types.TimeInNanos{TimeInSeconds: aws.Int64(r.Time.Unix()), OffsetInNanos: aws.Int32(int32(r.Time.Nanosecond()))},
	}
}

// retryableEntryCode: per-entry errors that may succeed later.
func retryableEntryCode(code string) bool {
	switch types.BatchPutAssetPropertyValueErrorCode(code) {
	case types.BatchPutAssetPropertyValueErrorCodeThrottlingException,
		types.BatchPutAssetPropertyValueErrorCodeInternalFailureException,
		types.BatchPutAssetPropertyValueErrorCodeServiceUnavailableException:
		return true
	case types.BatchPutAssetPropertyValueErrorCodeInvalidRequestException,
		types.BatchPutAssetPropertyValueErrorCodeTimestampOutOfRangeException,
		types.BatchPutAssetPropertyValueErrorCodeResourceNotFoundException,
		types.BatchPutAssetPropertyValueErrorCodeAccessDeniedException,
		types.BatchPutAssetPropertyValueErrorCodeConflictingOperationException,
		types.BatchPutAssetPropertyValueErrorCodeLimitExceededException:
		return false
	}
	return true // unknown: do not drop data on a code we do not know
}
