package configs

import (
	"fmt"
	"math"
	"net"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/stirling-iot/stirling/internal/webguard"
)

// checker collects validation errors by key path.
// maxAllowHosts bounds http.allow_hosts.
const maxAllowHosts = 64

type checker struct{ errs Errors }

func (c *checker) bad(key, format string, a ...any) {
	c.errs = append(c.errs, &Error{Key: key, Msg: fmt.Sprintf(format, a...)})
}

func (c *checker) oneOf(key, v string, allowed ...string) {
	if !slices.Contains(allowed, v) {
		c.bad(key, "%q not allowed; want one of %s", v, strings.Join(allowed, ", "))
	}
}

func (c *checker) dur(key string, d, lo, hi time.Duration) {
	if d < lo || d > hi {
		c.bad(key, "%q out of range; want a duration from %s to %s",
			FormatDuration(d), FormatDuration(lo), FormatDuration(hi))
	}
}

func (c *checker) num(key string, v, lo, hi float64) {
	if !(v >= lo && v <= hi) {
		c.bad(key, "%v out of range; want a number from %v to %v", v, lo, hi)
	}
}

func (c *checker) integer(key string, v, lo, hi int) {
	if v < lo || v > hi {
		c.bad(key, "%d out of range; want an integer from %d to %d", v, lo, hi)
	}
}

func (c *checker) size(key string, v, lo, hi Size) {
	if v < lo || v > hi {
		c.bad(key, "%s out of range; want a size from %s to %s", v, lo, hi)
	}
}

func (c *checker) required(key, v, what string) bool {
	if v == "" {
		c.bad(key, "empty; want %s", what)
		return false
	}
	return true
}

func (c *checker) hostPort(key, v string, ports ...int) {
	host, port, err := net.SplitHostPort(v)
	if err != nil || host == "" {
		c.bad(key, "%q is not host:port; want e.g. abc123-ats.iot.eu-west-1.amazonaws.com:8883", v)
		return
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		c.bad(key, "port %q out of range; want 1 to 65535", port)
	}
}

var thingNameRE = regexp.MustCompile(`^[a-zA-Z0-9:_-]{1,128}$`)

// Validate checks every field and returns all problems as Errors (with key
// paths; Parse adds the file and line numbers).
func (c *Config) Validate() error {
	return c.validateAll(false)
}

// validateAll validates; fleet skips the requirement of a thing name.
func (c *Config) validateAll(fleet bool) error {
	ck := &checker{}
	c.validate(ck, fleet)
	return ck.errs.err()
}

func (c *Config) validate(ck *checker, fleet bool) {
	cloud := false
	for _, p := range c.Publishers {
		switch p.Type {
		case TypeMQTT, TypeGreengrass, TypeSiteWise:
			cloud = true
		}
	}
	switch {
	case c.Device.ThingName == "" && cloud && !fleet:
		ck.bad("device.thing_name", "empty and AWS_IOT_THING_NAME is not set; want the AWS IoT thing name (cloud publishers need it)")
	case c.Device.ThingName != "" && !thingNameRE.MatchString(c.Device.ThingName):
		ck.bad("device.thing_name", "%q not allowed; want 1 to 128 of a-z A-Z 0-9 : _ -", c.Device.ThingName)
	}

	s := &c.Sensors
	ck.oneOf("sensors.bus", s.Bus, BusHardware, BusSim)
	t := &s.Thermal
	if t.I2CBus == "" {
		ck.bad("sensors.thermal.i2c_bus", `empty; want a bus name like "1" or "/dev/i2c-1"`)
	}
	if t.Address < 0x08 || t.Address > 0x77 {
		ck.bad("sensors.thermal.address", "0x%x out of range; want a 7-bit address from 0x08 to 0x77 (the MLX90640 ships as 0x33)", t.Address)
	}
	if !slices.Contains([]float64{0.5, 1, 2, 4, 8, 16, 32, 64}, t.RefreshHz) {
		ck.bad("sensors.thermal.refresh_hz", "%v not allowed; want one of 0.5, 1, 2, 4, 8, 16, 32, 64", t.RefreshHz)
	}
	ck.integer("sensors.thermal.resolution", t.Resolution, 16, 19)
	ck.oneOf("sensors.thermal.pattern", t.Pattern, "chess", "interleaved")
	ck.num("sensors.thermal.emissivity", t.Emissivity, 0.1, 1)
	if t.ReflectedC != nil {
		ck.num("sensors.thermal.reflected_c", *t.ReflectedC, -40, 300)
	}
	tc := &s.Tachometer
	ck.required("sensors.tachometer.gpio_chip", tc.Chip, `a GPIO character device like "gpiochip0"`)
	ck.integer("sensors.tachometer.gpio_line", tc.Line, 0, 511)
	ck.oneOf("sensors.tachometer.edge", tc.Edge, "rising", "falling")
	ck.oneOf("sensors.tachometer.bias", tc.Bias, "as_is", "disable", "pull_up", "pull_down")
	ck.integer("sensors.tachometer.marks_per_rev", tc.MarksPerRev, 1, 64)
	ck.num("sensors.tachometer.min_rpm", tc.MinRPM, 0.1, 1000)
	ck.num("sensors.tachometer.max_rpm", tc.MaxRPM, math.Max(tc.MinRPM, 1), 100000)
	ck.dur("sensors.tachometer.stall_timeout", tc.StallTimeout, 100*time.Millisecond, time.Minute)
	if tc.MinRPM > 0 && tc.StallTimeout > 0 && tc.StallTimeout < time.Duration(float64(time.Minute)/tc.MinRPM/float64(max(tc.MarksPerRev, 1))) {
		ck.bad("sensors.tachometer.stall_timeout", "%s is shorter than one mark period at min_rpm; want at least %s",
			FormatDuration(tc.StallTimeout), FormatDuration(time.Duration(float64(time.Minute)/tc.MinRPM/float64(max(tc.MarksPerRev, 1))).Round(time.Millisecond)))
	}
	sc := &s.Sim
	ck.oneOf("sensors.sim.scenario", sc.Scenario, SimScenarios()...)
	ck.num("sensors.sim.speedup", sc.Speedup, 1, 10000)
	ck.num("sensors.sim.steady_rpm", sc.SteadyRPM, 50, 3000)
	ck.num("sensors.sim.ambient_c", sc.AmbientC, -20, 45)
	ck.dur("sensors.sim.jitter", sc.Jitter, 0, time.Millisecond)
	ck.num("sensors.sim.mark_width_deg", sc.MarkWidthDeg, 1, 180)
	for i, f := range sc.Faults {
		key := fmt.Sprintf("sensors.sim.faults[%d]", i)
		ck.oneOf(key+".kind", f.Kind, SimFaultKinds()...)
		ck.dur(key+".at", f.At, 0, 365*24*time.Hour)
		ck.dur(key+".for", f.For, 0, 365*24*time.Hour)
		ck.num(key+".rate", f.Rate, 0, 1)
	}

	if c.ROIsFile == "" {
		ck.bad("rois_file", "empty; want the path of the ROI file (relative to this file), e.g. rois.yaml")
	}

	c.Pipeline.validate(ck)

	sp := &c.Spool
	ck.required("spool.dir", sp.Dir, "a directory")
	ck.size("spool.max_bytes", sp.MaxBytes, 1*MiB, 1<<40)
	ck.dur("spool.max_age", sp.MaxAge, time.Minute, 365*24*time.Hour)
	ck.size("spool.segment_bytes", sp.SegmentBytes, 64*KiB, 256*MiB)
	if sp.SegmentBytes > sp.MaxBytes/4 && sp.MaxBytes >= MiB {
		ck.bad("spool.segment_bytes", "%s is more than a quarter of max_bytes (%s); want at most %s (dropping the oldest segment frees at most a quarter of the spool)",
			sp.SegmentBytes, sp.MaxBytes, sp.MaxBytes/4)
	}
	ck.dur("spool.sync_interval", sp.SyncInterval, 0, time.Minute)

	if len(c.Publishers) == 0 {
		ck.bad("publishers", "empty; want at least one of %s", strings.Join(publisherTypes, ", "))
	}
	names := map[string]int{}
	for i := range c.Publishers {
		c.Publishers[i].validate(ck, fmt.Sprintf("publishers[%d]", i))
		n := c.Publishers[i].DisplayName()
		if j, dup := names[n]; dup {
			ck.bad(fmt.Sprintf("publishers[%d].name", i), "%q already used by publishers[%d]; give each publisher of the same type a unique name", n, j)
		}
		names[n] = i
	}

	if c.HTTP.Listen != "" {
		if _, port, err := net.SplitHostPort(c.HTTP.Listen); err != nil || port == "" {
			ck.bad("http.listen", "%q is not host:port; want e.g. 127.0.0.1:8080 (empty turns the page off)", c.HTTP.Listen)
		}
	}
	ck.dur("http.healthz_max_silence", c.HTTP.HealthzMaxSilence, time.Second, 24*time.Hour)
	if n := len(c.HTTP.AllowHosts); n > maxAllowHosts {
		ck.bad("http.allow_hosts", "%d entries; want at most %d", n, maxAllowHosts)
	}
	for i, h := range c.HTTP.AllowHosts {
		if _, err := webguard.ParseHost(h); err != nil {
			ck.bad(fmt.Sprintf("http.allow_hosts[%d]", i), "%q is not a host name or IP address (with an optional :port); want e.g. pi-01.example.com or 192.0.2.10:8080", h)
		}
	}
	if c.HTTP.LivezWindow != 0 {
		ck.dur("http.livez_window", c.HTTP.LivezWindow, time.Second, 24*time.Hour)
	}

	if err := c.ROIs.Validate(); err != nil {
		for _, e := range unjoin(err) {
			ck.bad("rois", "%s", e)
		}
	}
}

// DisplayName is Name, or Type when Name is empty.
func (p *Publisher) DisplayName() string {
	if p.Name != "" {
		return p.Name
	}
	return p.Type
}

func (p *Publisher) validate(ck *checker, key string) {
	layouts := []string{LayoutSample, LayoutBatch}
	if p.Name != "" && !regexp.MustCompile(`^[a-z0-9_-]{1,64}$`).MatchString(p.Name) {
		ck.bad(key+".name", "%q not allowed; want 1 to 64 of a-z 0-9 _ -", p.Name)
	}
	switch {
	case p.Stdout != nil:
		ck.oneOf(key+".layout", p.Stdout.Layout, layouts...)
	case p.File != nil:
		f := p.File
		ck.required(key+".path", f.Path, "a file path")
		ck.size(key+".rotate_bytes", f.RotateBytes, 64*KiB, 16*GiB)
		ck.integer(key+".keep", f.Keep, 0, 100)
		ck.oneOf(key+".layout", f.Layout, layouts...)
	case p.MQTT != nil:
		m := p.MQTT
		// endpoint, cert_file, key_file and ca_file may be left empty on a
		// Greengrass core device: the publisher then uses the nucleus's own
		// endpoint and device credentials (docs/mqtt.md), and fails at start
		// with a clear error where there are none.
		if m.Endpoint != "" {
			ck.hostPort(key+".endpoint", m.Endpoint)
		}
		if len(m.ClientID) > 128 {
			ck.bad(key+".client_id", "%d bytes; want at most 128 (IoT Core limit)", len(m.ClientID))
		}
		checkTopic(ck, key+".topic", m.Topic)
		if m.BasicIngestRule != "" && !regexp.MustCompile(`^[a-zA-Z0-9_]{1,128}$`).MatchString(m.BasicIngestRule) {
			ck.bad(key+".basic_ingest_rule", "%q not allowed; want a rule name of 1 to 128 of a-z A-Z 0-9 _", m.BasicIngestRule)
		}
		ck.oneOf(key+".layout", m.Layout, append(layouts, LayoutPacked)...)
		ck.dur(key+".max_latency", m.MaxLatency, 0, MaxPublisherLatency)
		if (m.CertFile == "") != (m.KeyFile == "") {
			ck.bad(key+".cert_file", "cert_file and key_file go together; set both, or neither to use the Greengrass device credentials")
		}
		ck.dur(key+".keepalive", m.Keepalive, 30*time.Second, 1200*time.Second)
		if m.QoS != 1 {
			ck.bad(key+".qos", "%d not allowed; want 1 (a batch leaves the spool only on PUBACK)", m.QoS)
		}
	case p.Greengrass != nil:
		g := p.Greengrass
		checkTopic(ck, key+".topic", g.Topic)
		ck.oneOf(key+".destination", g.Destination, "iotcore", "local")
		ck.oneOf(key+".layout", g.Layout, layouts...)
	case p.SiteWise != nil:
		s := p.SiteWise
		if s.Region != "" && !regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d$`).MatchString(s.Region) {
			ck.bad(key+".region", "%q is not an AWS region; want e.g. eu-west-1 (empty uses AWS_REGION)", s.Region)
		}
		if s.Endpoint != "" && !strings.HasPrefix(s.Endpoint, "https://") && !strings.HasPrefix(s.Endpoint, "http://") {
			ck.bad(key+".endpoint", "%q not allowed; want a URL starting with https:// (http:// only to a loopback address, for tests)", s.Endpoint)
		}
		ck.dur(key+".max_latency", s.MaxLatency, 0, MaxPublisherLatency)
		if !strings.Contains(s.AliasTemplate, "{metric}") {
			ck.bad(key+".alias_template", "%q lacks {metric}; want e.g. /stirling/{thing}/{metric}", s.AliasTemplate)
		} else if len(s.AliasTemplate) > 1000 {
			ck.bad(key+".alias_template", "%d bytes; want at most 1000", len(s.AliasTemplate))
		}
	default:
		ck.bad(key+".type", "%q not allowed; want one of %s", p.Type, strings.Join(publisherTypes, ", "))
	}
}

// checkTopic applies IoT Core's topic rules: at most 256 bytes and 7
// slashes, no leading slash, no wildcards, not in the reserved $ space.
func checkTopic(ck *checker, key, topic string) {
	switch {
	case topic == "":
		ck.bad(key, "empty; want a topic like "+DefaultTopic)
	case strings.HasPrefix(topic, "/"):
		ck.bad(key, "%q starts with a slash; want e.g. "+DefaultTopic, topic)
	case strings.HasPrefix(topic, "$"):
		ck.bad(key, "%q is in the reserved $ space; want a plain topic (use basic_ingest_rule for $aws/rules)", topic)
	case strings.ContainsAny(topic, "#+"):
		ck.bad(key, "%q has a wildcard; want a plain topic", topic)
	case strings.Count(topic, "/") > 7:
		ck.bad(key, "%q has %d slashes; want at most 7 (IoT Core limit)", topic, strings.Count(topic, "/"))
	case len(topic) > 256:
		ck.bad(key, "%d bytes; want at most 256 (IoT Core limit)", len(topic))
	}
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unjoin(e)...)
		}
		return out
	}
	return []error{err}
}

// maxBatchBytes is the largest pipeline.batch.max_bytes: 120 KiB, under IoT
// Core's 128 KB message limit with room for the topic and headers
// (pipeline.MaxBatchBytes).
const maxBatchBytes = 120 << 10

// maxHampel is the largest pipeline.hampel.window.
const maxHampel = 31

// validate checks the pipeline section with the ranges pipeline.Opts.Validate
// applies, keyed below "pipeline".
func (p *Pipeline) validate(ck *checker) {
	dur := func(key string, d, lo, hi time.Duration) { ck.dur("pipeline."+key, d, lo, hi) }
	num := func(key string, v, lo, hi float64) { ck.num("pipeline."+key, v, lo, hi) }
	dur("window", p.Window, 100*time.Millisecond, time.Hour)
	if p.WindowGrace < 0 || (p.WindowGrace >= p.Window && p.Window > 0) {
		ck.bad("pipeline.window_grace", "%q out of range; want a duration from 0s to less than window (%s)", FormatDuration(p.WindowGrace), FormatDuration(p.Window))
	}
	known := MetricNames()
	names := make([]string, 0, len(p.Metrics))
	for k := range p.Metrics {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		m := p.Metrics[k]
		key := "pipeline.metrics." + k
		if !slices.Contains(known, k) {
			ck.bad(key, "unknown metric; want one of %s", strings.Join(known, ", "))
			continue
		}
		if math.IsNaN(m.Min) || math.IsNaN(m.Max) || m.Min > m.Max {
			ck.bad(key, "min %v above max %v; want min <= max", m.Min, m.Max)
		}
		if !(m.Deadband >= 0) || math.IsInf(m.Deadband, 0) {
			ck.bad(key+".deadband", "%v out of range; want a number >= 0", m.Deadband)
		}
	}
	if h := p.Hampel.Window; h != 0 && (h < 3 || h > maxHampel || h%2 == 0) {
		ck.bad("pipeline.hampel.window", "%d not allowed; want 0 (off) or an odd number from 3 to %d", h, maxHampel)
	}
	num("hampel.threshold", p.Hampel.Threshold, 0.5, 100)
	num("hampel.min_deviation", p.Hampel.MinDeviation, 0, 1e6)
	num("ema_alpha", p.EMAAlpha, 0, 1)
	dur("heartbeat", p.Heartbeat, p.Window, 24*time.Hour)
	num("roi.min_valid", p.ROI.MinValid, 0, 1)
	dur("roi.max_pixel_age", p.ROI.MaxPixelAge, 10*time.Millisecond, time.Hour)
	num("engine.running_rpm", p.Engine.RunningRPM, 1, 5000)
	num("engine.flame_on_c", p.Engine.FlameOnC, -40, 1200)
	num("engine.flame_off_c", p.Engine.FlameOffC, -40, p.Engine.FlameOnC)
	num("engine.warm_delta_k", p.Engine.WarmDeltaK, 0, 500)
	ck.integer("pipeline.batch.max_readings", p.Batch.MaxReadings, 1, 10000)
	ck.integer("pipeline.batch.max_bytes", int(p.Batch.MaxBytes), 1024, maxBatchBytes)
	dur("batch.max_latency", p.Batch.MaxLatency, 10*time.Millisecond, 10*time.Minute)
}
