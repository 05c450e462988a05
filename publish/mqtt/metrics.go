package mqtt

import "github.com/prometheus/client_golang/prometheus"

// The publisher is a prometheus.Collector of its connection and message
// counters. The agent registers every publisher that is one, labelled with
// its name (publisher="...").
var _ prometheus.Collector = (*Publisher)(nil)

func mqttDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("stirling_mqtt_"+name, help, nil, nil)
}

var (
	connectedDesc       = mqttDesc("connected", "1 while connected to the broker.")
	connectsDesc        = mqttDesc("connects_total", "Successful MQTT connections.")
	connectFailuresDesc = mqttDesc("connect_failures_total", "Failed MQTT connection attempts.")
	disconnectsDesc     = mqttDesc("disconnects_total", "Connections lost.")
	publishedDesc       = mqttDesc("published_total", "Messages published at QoS 1.")
	ackedDesc           = mqttDesc("acked_total", "Messages acknowledged with PUBACK.")
	failedDesc          = mqttDesc("failed_total", "Messages whose PUBACK never came (retried).")
	inFlightDesc        = mqttDesc("in_flight", "Messages awaiting PUBACK.")
)

// Describe implements prometheus.Collector.
func (p *Publisher) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{connectedDesc, connectsDesc, connectFailuresDesc, disconnectsDesc,
		publishedDesc, ackedDesc, failedDesc, inFlightDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector from one Stats.
func (p *Publisher) Collect(ch chan<- prometheus.Metric) {
	s := p.Stats()
	connected := 0.0
	if s.Connected {
		connected = 1
	}
	ch <- prometheus.MustNewConstMetric(connectedDesc, prometheus.GaugeValue, connected)
	for _, c := range []struct {
		d *prometheus.Desc
		v uint64
	}{
		{connectsDesc, s.Connects}, {connectFailuresDesc, s.ConnectFailures}, {disconnectsDesc, s.Disconnects},
		{publishedDesc, s.Published}, {ackedDesc, s.Acked}, {failedDesc, s.Failed},
	} {
		ch <- prometheus.MustNewConstMetric(c.d, prometheus.CounterValue, float64(c.v))
	}
	ch <- prometheus.MustNewConstMetric(inFlightDesc, prometheus.GaugeValue, float64(s.InFlight))
}
