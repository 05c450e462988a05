// Package promtest reads a Prometheus text page (what /metrics serves) into
// the one shape tests want: a map from series to value. It parses with
// github.com/prometheus/common/expfmt, the parser Prometheus itself uses,
// so a page Prometheus would refuse fails the test instead of being read
// line by line.
//
// Only tests import this package; no production binary links it.
package promtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// ErrStatus is returned by Scrape when the page does not answer 200 OK.
var ErrStatus = errors.New("promtest: /metrics did not answer 200 OK")

// Series maps every sample of a page to its value. The key is the metric
// name for a sample without labels and name{label="value",...} with its
// labels in name order, as Prometheus prints them: for example
// stirling_publisher_lag_records{publisher="mqtt"}. Summaries and
// histograms give their quantile or _bucket samples and _sum and _count.
type Series map[string]float64

// Parse reads a Prometheus text page.
func Parse(r io.Reader) (Series, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("promtest: parse: %w", err)
	}
	out := Series{}
	for name, fam := range fams {
		samples, err := expfmt.ExtractSamples(&expfmt.DecodeOptions{}, fam)
		if err != nil {
			return nil, fmt.Errorf("promtest: %s: %w", name, err)
		}
		for _, s := range samples {
			out[Key(s.Metric)] = float64(s.Value)
		}
	}
	return out, nil
}

// ParseString is Parse of a page held in a string.
func ParseString(page string) (Series, error) { return Parse(strings.NewReader(page)) }

var escape = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// Key is the Series key of a sample's metric: its name, then its other
// labels in name order.
func Key(m model.Metric) string {
	name := string(m[model.MetricNameLabel])
	labels := make([]string, 0, len(m))
	for l := range m {
		if l != model.MetricNameLabel {
			labels = append(labels, string(l))
		}
	}
	if len(labels) == 0 {
		return name
	}
	slices.Sort(labels)
	var b strings.Builder
	b.WriteString(name)
	b.WriteByte('{')
	for i, l := range labels {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(l)
		b.WriteString(`="`)
		b.WriteString(escape.Replace(string(m[model.LabelName(l)])))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// Name is the metric name of a Series key.
func Name(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		return key[:i]
	}
	return key
}

// Sum is the sum of the samples named name, over all their labels.
func (s Series) Sum(name string) float64 {
	var sum float64
	for k, v := range s {
		if Name(k) == name {
			sum += v
		}
	}
	return sum
}

// WithSums returns a copy of s in which every name of a labelled sample
// also maps to the sum of its samples, so that m["stirling_x_total"] reads
// the total over all labels.
func (s Series) WithSums() Series {
	out := make(Series, len(s))
	for k, v := range s {
		out[k] = v
	}
	for k, v := range s {
		if n := Name(k); n != k {
			out[n] += v
		}
	}
	return out
}

// Scrape fetches url and parses it. It returns the page as text too, for
// failure messages and for tests that read the HELP lines.
func Scrape(ctx context.Context, c *http.Client, url string) (Series, string, error) {
	if c == nil {
		c = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, "", fmt.Errorf("promtest: scrape: %w", err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("promtest: scrape: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", fmt.Errorf("promtest: scrape %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, string(b), fmt.Errorf("%w: %s: %s", ErrStatus, url, resp.Status)
	}
	s, err := ParseString(string(b))
	return s, string(b), err
}
