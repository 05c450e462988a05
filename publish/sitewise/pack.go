package sitewise

import (
	"time"

	"github.com/stirling-iot/stirling/pipeline"
)

// MaxLatency implements publish.Packer: Opts.MaxLatency.
func (p *Publisher) MaxLatency() time.Duration { return p.hold }

// Fits implements publish.Packer: no property of b has more than MaxValues
// readings, so every property's readings go in one entry, which SiteWise
// meters as one unit (10 data points) per data stream.
func (p *Publisher) Fits(b *pipeline.Batch) bool {
	n := make(map[string]int, 32)
	for i := range b.Readings {
		m := b.Readings[i].Metric
		n[m]++
		if n[m] > MaxValues {
			return false
		}
	}
	return true
}
