package mqtt

import (
	"context"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/internal/testsrv/mosquittotest"
	"github.com/stirling-iot/stirling/publish"
)

// BenchmarkPublishQoS1 sends batches of 400 readings (100 timestamps of 4
// metrics) to a local mosquitto over mutual TLS and waits for every PUBACK.
func BenchmarkPublishQoS1(b *testing.B) {
	br := mosquittotest.Start(b, nil)
	for _, layout := range []Layout{Batch, Sample} {
		b.Run("layout="+string(layout), func(b *testing.B) {
			p := newTestPublisher(b, br, br.Addr, func(o *Opts) { o.Layout = layout })
			waitReady(b, p, 5*time.Second)
			batch := engineBatch(1, 1, 100, time.UnixMilli(1_700_000_000_000))
			res := make([]publish.Result, len(batch.Readings))
			ctx := context.Background()
			before := p.Stats()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				clear(res)
				if err := p.Send(ctx, batch, res); err != nil {
					b.Fatal(err)
				}
			}
			el := b.Elapsed().Seconds()
			st := p.Stats()
			b.ReportMetric(float64(st.AckedReadings-before.AckedReadings)/el, "readings/s")
			b.ReportMetric(float64(st.Acked-before.Acked)/el, "msgs/s")
		})
	}
}
