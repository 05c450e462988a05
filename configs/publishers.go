package configs

import (
	"time"
)

// Publisher types.
const (
	TypeStdout     = "stdout"
	TypeFile       = "file"
	TypeMQTT       = "mqtt"
	TypeGreengrass = "greengrass"
	TypeSiteWise   = "sitewise"
)

// DefaultTopic is the default topic of the mqtt and greengrass publishers,
// after AWS's topic design dt/<application>/<thing>/<type>: inside the
// recipe's default grant dt/stirling/{iot:thingName}/# (recipe package),
// and equal to the drivers' own defaults (mqtt.DefaultTopic,
// greengrass.DefaultTopic; a test holds them together).
const DefaultTopic = "dt/stirling/{thing}/telemetry"

// PublisherTypes lists the publisher types in documentation order.
var publisherTypes = []string{TypeStdout, TypeFile, TypeMQTT, TypeGreengrass, TypeSiteWise}

// Payload layouts for the JSON publishers.
const (
	// LayoutSample: for mqtt, one flat JSON object per timestamp that an
	// IoT rule's iotSiteWise action can map (schemas/sample.schema.json).
	LayoutSample = "sample"
	// LayoutBatch: for mqtt and greengrass, many readings per message
	// (schemas/batch.schema.json), for Kafka/Lambda consumers and fast
	// backlog drain. The stdout and file publishers always write one JSON
	// line per reading.
	LayoutBatch = "batch"
	// LayoutPacked: for mqtt only, readings packed to fill each message up
	// to a whole number of IoT Core's 5 KB billing units
	// (schemas/packed.schema.json); use it with max_latency.
	LayoutPacked = "packed"
)

// MaxPublisherLatency bounds the max_latency of the mqtt and sitewise
// publishers.
const MaxPublisherLatency = 10 * time.Minute

// Publisher is one entry of the publishers list. In YAML the type-specific
// settings sit next to type and name:
//
//	publishers:
//	  - type: mqtt
//	    endpoint: abc123-ats.iot.eu-west-1.amazonaws.com:8883
//	    topic: dt/stirling/{thing}/telemetry
//
// Exactly one of the pointers, the one matching Type, is non-nil after
// loading.
type Publisher struct {
	// Type is stdout, file, mqtt, greengrass or sitewise.
	Type string
	// Name identifies the publisher in logs, stats and its spool cursor;
	// it defaults to Type and must be unique.
	Name string

	Stdout     *Stdout
	File       *File
	MQTT       *MQTT
	Greengrass *Greengrass
	SiteWise   *SiteWise
}

// Stdout writes readings as JSON lines to standard output (Greengrass
// captures it into the component log).
type Stdout struct {
	// Layout is "sample" (one line per reading) or "batch" (one per batch).
	Layout string `yaml:"layout"`
}

// File appends readings as JSON lines to a file, rotating by size.
type File struct {
	Path string `yaml:"path"`
	// RotateBytes starts a new file when the current one reaches this size.
	RotateBytes Size `yaml:"rotate_bytes"`
	// Keep is how many rotated files are kept (0 to 100).
	Keep   int    `yaml:"keep"`
	Layout string `yaml:"layout"`
}

// MQTT publishes to AWS IoT Core (or any MQTT 3.1.1 broker) over mutual TLS.
type MQTT struct {
	// Endpoint is host:port: the account's ATS endpoint on port 8883, or
	// port 443 with ALPN "x-amzn-mqtt-ca" (for networks that block 8883).
	// Empty on a Greengrass core device: the nucleus's own endpoint.
	Endpoint string `yaml:"endpoint"`
	// ClientID defaults to "<thing>-stirling": the thing name itself is
	// the Greengrass nucleus's client ID, and IoT Core disconnects the
	// older of two connections with the same ID. At most 128 bytes.
	ClientID string `yaml:"client_id"`
	// Topic may use {thing}; at most 256 bytes and 7 slashes, no leading
	// slash, no wildcards.
	Topic string `yaml:"topic"`
	// BasicIngestRule, when set, publishes to $aws/rules/<rule>/<topic>
	// (Basic Ingest: no messaging charge; the prefix does not count toward
	// the topic limits).
	BasicIngestRule string `yaml:"basic_ingest_rule"`
	// Layout is "batch" (an array of readings per message), "sample"
	// (one flat object per timestamp, for IoT rules) or "packed" (filled
	// to IoT Core's 5 KB billing units); see docs/mqtt.md.
	Layout string `yaml:"layout"`
	// MaxLatency is the longest a record is held so that the records
	// after it share its message (0 to 10m; 0 sends each record at once).
	// A message goes when the next record would push it over one 5 KB
	// billing unit, or when its first record has waited this long.
	MaxLatency time.Duration `yaml:"max_latency"`
	// CertFile, KeyFile and CAFile are PEM files for mutual TLS. Empty on
	// a Greengrass core device: the nucleus's device credentials.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	CAFile   string `yaml:"ca_file"`
	// Keepalive is the MQTT keep-alive; IoT Core accepts 30s to 1200s.
	Keepalive time.Duration `yaml:"keepalive"`
	// QoS is fixed at 1: a batch leaves the spool only on PUBACK.
	QoS int `yaml:"qos"`
}

// Greengrass publishes through the Greengrass nucleus over IPC.
type Greengrass struct {
	// Topic may use {thing}.
	Topic string `yaml:"topic"`
	// Destination is "iotcore" (PublishToIoTCore, QoS 1) or "local"
	// (PublishToTopic on the local pub/sub bus).
	Destination string `yaml:"destination"`
	Layout      string `yaml:"layout"`
}

// SiteWise sends readings to AWS IoT SiteWise with
// BatchPutAssetPropertyValue, addressing properties by alias.
type SiteWise struct {
	// Region defaults to AWS_REGION (set by Greengrass).
	Region string `yaml:"region"`
	// Endpoint overrides the service endpoint (tests, VPC endpoints).
	Endpoint string `yaml:"endpoint"`
	// AliasTemplate builds each property alias from {thing} and {metric}.
	AliasTemplate string `yaml:"alias_template"`
	// MaxLatency is the longest a record is held so that the records
	// after it fill the same entries (0 to 10m; 0 sends each record at
	// once). A Send goes when some property would get more than 10 values
	// (SiteWise meters 10 data points per data stream), or when its first
	// record has waited this long.
	MaxLatency time.Duration `yaml:"max_latency"`
}

// defaultPublisher returns a publisher of type t with its defaults, or nil
// for an unknown type.
func defaultPublisher(t string) *Publisher {
	p := &Publisher{Type: t}
	switch t {
	case TypeStdout:
		p.Stdout = &Stdout{Layout: LayoutSample}
	case TypeFile:
		p.File = &File{Path: "stirling-readings.jsonl", RotateBytes: 16 * MiB, Keep: 3, Layout: LayoutSample}
	case TypeMQTT:
		p.MQTT = &MQTT{
			Topic:     DefaultTopic,
			Layout:    LayoutBatch,
			Keepalive: 60 * time.Second,
			QoS:       1,
		}
	case TypeGreengrass:
		p.Greengrass = &Greengrass{Topic: DefaultTopic, Destination: "iotcore", Layout: LayoutBatch}
	case TypeSiteWise:
		p.SiteWise = &SiteWise{AliasTemplate: "/stirling/{thing}/{metric}"}
	default:
		return nil
	}
	return p
}

// settings returns a pointer to the type-specific struct, or nil.
func (p *Publisher) settings() any {
	switch {
	case p.Stdout != nil:
		return p.Stdout
	case p.File != nil:
		return p.File
	case p.MQTT != nil:
		return p.MQTT
	case p.Greengrass != nil:
		return p.Greengrass
	case p.SiteWise != nil:
		return p.SiteWise
	}
	return nil
}
