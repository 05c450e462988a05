package sitewise

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/iotsitewise"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/stirling-iot/stirling/internal/clock"
	"github.com/stirling-iot/stirling/publish"
)

// Service limits (reference greengrass.md §4.1, §4.3).
const (
	MaxEntries        = 10 // entries per BatchPutAssetPropertyValue request
	MaxValues         = 10 // values (TQVs) per entry
	MaxAliasLen       = 1000
	DefaultRate       = 10 // entries per second per property, not adjustable
	DefaultMaxAge     = 7 * 24 * time.Hour
	DefaultMaxFuture  = 10 * time.Minute
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
	// refuses values older than 7 days or more than 10 minutes ahead (the
	// BatchPutAssetPropertyValue API reference). Defaults DefaultMaxAge and
	// DefaultMaxFuture. Readings outside are rejected, never retried.
	MaxAge, MaxFuture time.Duration
	// MaxLatency is the longest the runner holds a record so that the
	// records after it fill the same entries (publish.Packer): SiteWise
	// meters 10 data points (or 1 KB) per data stream per request, so a
	// Send goes when the next record would give some property more than
	// MaxValues (10) values, or when its first record has waited
	// MaxLatency. 0 (the default) sends every record at once.
	MaxLatency time.Duration
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

// DefaultOpts returns the defaults New uses for every zero field (Thing,
// Region, Endpoint and AWSConfig have none: they come from the device and
// the AWS configuration).
func DefaultOpts() Opts {
	return Opts{
		Name: defaultName, AliasTemplate: DefaultTemplate,
		MaxAge: DefaultMaxAge, MaxFuture: DefaultMaxFuture, Rate: DefaultRate,
		MaxAttempts: retry.DefaultMaxAttempts, MaxBackoff: retry.DefaultMaxBackoff,
		Clock: clock.Real{}, Logger: slog.New(slog.DiscardHandler),
	}
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
	hold      time.Duration // Opts.MaxLatency
	clk       clock.Clock
	log       *slog.Logger
	client    *iotsitewise.Client

	mu      sync.Mutex // one Send at a time; guards buckets and aliases
	buckets map[string]*window
	aliases map[string]string // metric -> alias

	st stats
}

var (
	_ publish.Publisher = (*Publisher)(nil)
	_ publish.Packer    = (*Publisher)(nil)
)

// New builds a Publisher. It loads the AWS configuration (unless
// o.AWSConfig is set) but makes no request.
func New(ctx context.Context, o *Opts) (*Publisher, error) {
	var opts Opts
	if o != nil {
		opts = *o
	}
	p := &Publisher{
		name: opts.Name, thing: opts.Thing, template: opts.AliasTemplate,
		maxAge: opts.MaxAge, maxFuture: opts.MaxFuture, rate: opts.Rate, hold: max(opts.MaxLatency, 0),
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
