package mqtt

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/stirling-iot/stirling/pipeline"
	"github.com/stirling-iot/stirling/publish"
)

// Layout is the JSON shape of the messages.
type Layout string

// Layouts. Both are described by a JSON Schema in schemas/.
const (
	// Sample sends one flat JSON object per timestamp: the readings that
	// share a timestamp (and have consecutive sequence numbers) become
	// fields "<metric>" and "<metric>_quality", which an IoT rule's
	// iotSiteWise action maps with ${<metric>} templates. Window statistics
	// (min, max, last, count) are left out: the pipeline already publishes
	// the ones that matter as metrics of their own (hot_cylinder_c_max...),
	// whose names would collide; the batch layout carries them all.
	// Schema: schemas/sample.schema.json.
	Sample Layout = "sample"
	// Batch sends an envelope with an array of readings, as many as fit in
	// MaxPayload: for Kafka or Lambda consumers and fast backlog drain.
	// Schema: schemas/batch.schema.json.
	Batch Layout = "batch"
)

// Keys of the sample layout that a metric cannot use.
var sampleReserved = [...]string{"device", "batch", "seq", "seq_last", "ts", "restart"}

// qualitySuffix is appended to a metric name for its quality field in the
// sample layout.
const qualitySuffix = "_quality"

// message is one encoded MQTT payload carrying readings lo..hi-1 of a batch
// (minus those already rejected).
type message struct {
	payload []byte
	lo, hi  int
}

// encoder turns batches into payloads of at most max bytes.
type encoder struct {
	layout Layout
	device []byte // JSON-quoted device name
	max    int

	elem, body []byte // scratch
}

func newEncoder(layout Layout, device string, max int) *encoder {
	return &encoder{layout: layout, device: appendString(nil, device), max: max}
}

// envelope bytes beyond the readings: the header with the widest numbers and
// the closing bytes.
func (e *encoder) overhead() int {
	const num = 20 // widest uint64
	n := len(`{"device":`) + len(e.device) + len(`,"batch":`) + num + len(`,"seq":`) + num + len(`,"seq_last":`) + num
	if e.layout == Sample {
		return n + len(`,"ts":`) + num + len(`}`)
	}
	return n + len(`,"readings":[`) + len(`]}`)
}

func (e *encoder) header(dst []byte, batch, seq, seqLast uint64) []byte {
	dst = append(dst, `{"device":`...)
	dst = append(dst, e.device...)
	dst = append(dst, `,"batch":`...)
	dst = strconv.AppendUint(dst, batch, 10)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, `,"seq_last":`...)
	dst = strconv.AppendUint(dst, seqLast, 10)
	return dst
}

// encode appends the messages for b to dst and marks readings that cannot be
// sent in res as Rejected.
func (e *encoder) encode(dst []message, b *pipeline.Batch, res []publish.Result) []message {
	switch e.layout {
	case Sample:
		return e.encodeSample(dst, b, res)
	case Packed:
		return e.encodePacked(dst, b, res)
	}
	return e.encodeBatch(dst, b, res)
}

func (e *encoder) encodeBatch(dst []message, b *pipeline.Batch, res []publish.Result) []message {
	over := e.overhead() + restartLen(b.Restart)
	e.body = e.body[:0]
	first, last := -1, -1
	n0 := len(dst)
	flush := func(hi int) {
		if first < 0 {
			return
		}
		p := make([]byte, 0, over+len(e.body))
		p = e.header(p, b.ID, b.Readings[first].Seq, b.Readings[last].Seq)
		if len(dst) == n0 {
			p = appendRestart(p, b.Restart)
		}
		p = append(p, `,"readings":[`...)
		p = append(p, e.body...)
		p = append(p, "]}"...)
		dst = append(dst, message{payload: p, lo: first, hi: hi})
		e.body = e.body[:0]
		first, last = -1, -1
	}
	for i := range b.Readings {
		if res[i].Status == publish.Rejected {
			continue
		}
		r := &b.Readings[i]
		if !finiteReading(r) {
			res[i] = publish.Result{Status: publish.Rejected, Reason: reasonNotFinite}
			continue
		}
		e.elem = appendReading(e.elem[:0], r)
		if over+len(e.elem) > e.max {
			res[i] = publish.Result{Status: publish.Rejected, Reason: fmt.Sprintf("reading encodes to %d bytes, over the %d-byte payload limit", len(e.elem), e.max)}
			continue
		}
		if first >= 0 && over+len(e.body)+1+len(e.elem) > e.max {
			flush(i)
		}
		if first < 0 {
			first = i
		} else {
			e.body = append(e.body, ',')
		}
		last = i
		e.body = append(e.body, e.elem...)
	}
	flush(len(b.Readings))
	return dst
}

// appendRestart appends a batch's restart announcement to the header of its
// first message, in every layout:
//
//	,"restart":{"previous_seq":1234,"previous_ts":1767225600000}
//
// previous_ts (epoch ms, sensor time) is left out when unknown. Nothing is
// appended for a batch that announces no restart.
func appendRestart(dst []byte, r *pipeline.Restart) []byte {
	if r == nil {
		return dst
	}
	dst = append(dst, `,"restart":{"previous_seq":`...)
	dst = strconv.AppendUint(dst, r.PreviousSeq, 10)
	if !r.PreviousTime.IsZero() {
		dst = append(dst, `,"previous_ts":`...)
		dst = strconv.AppendInt(dst, r.PreviousTime.UnixMilli(), 10)
	}
	return append(dst, '}')
}

// restartLen bounds the bytes appendRestart adds.
func restartLen(r *pipeline.Restart) int {
	if r == nil {
		return 0
	}
	const num = 20 // widest int64/uint64
	return len(`,"restart":{"previous_seq":`) + num + len(`,"previous_ts":`) + num + len(`}`)
}

func appendReading(dst []byte, r *pipeline.Reading) []byte {
	dst = append(dst, `{"seq":`...)
	dst = strconv.AppendUint(dst, r.Seq, 10)
	dst = append(dst, `,"metric":`...)
	dst = appendString(dst, r.Metric)
	if r.Unit != "" {
		dst = append(dst, `,"unit":`...)
		dst = appendString(dst, r.Unit)
	}
	dst = append(dst, `,"ts":`...)
	dst = strconv.AppendInt(dst, r.Time.UnixMilli(), 10)
	dst = append(dst, `,"value":`...)
	dst = appendFloat(dst, r.Value)
	if r.Text != "" {
		dst = append(dst, `,"text":`...)
		dst = appendString(dst, r.Text)
	}
	dst = append(dst, `,"quality":"`...)
	dst = append(dst, r.Quality.String()...)
	dst = append(dst, '"')
	if r.Count > 1 {
		dst = append(dst, `,"count":`...)
		dst = strconv.AppendUint(dst, uint64(r.Count), 10)
		dst = append(dst, `,"min":`...)
		dst = appendFloat(dst, r.Min)
		dst = append(dst, `,"max":`...)
		dst = appendFloat(dst, r.Max)
		dst = append(dst, `,"last":`...)
		dst = appendFloat(dst, r.Last)
	}
	return append(dst, '}')
}

// encodeSample groups runs of readings that share a timestamp, have
// consecutive sequence numbers and distinct field names into one object each.
func (e *encoder) encodeSample(dst []message, b *pipeline.Batch, res []publish.Result) []message {
	over := e.overhead() + restartLen(b.Restart)
	e.body = e.body[:0]
	first, last := -1, -1
	n0 := len(dst)
	flush := func() {
		if first < 0 {
			return
		}
		p := make([]byte, 0, over+len(e.body))
		p = e.header(p, b.ID, b.Readings[first].Seq, b.Readings[last].Seq)
		if len(dst) == n0 {
			p = appendRestart(p, b.Restart)
		}
		p = append(p, `,"ts":`...)
		p = strconv.AppendInt(p, b.Readings[first].Time.UnixMilli(), 10)
		p = append(p, e.body...)
		p = append(p, '}')
		dst = append(dst, message{payload: p, lo: first, hi: last + 1})
		e.body = e.body[:0]
		first, last = -1, -1
	}
	for i := range b.Readings {
		if res[i].Status == publish.Rejected {
			continue
		}
		r := &b.Readings[i]
		if !finite(r.Value) {
			res[i] = publish.Result{Status: publish.Rejected, Reason: reasonNotFinite}
			continue
		}
		if reason := sampleMetricProblem(r.Metric); reason != "" {
			res[i] = publish.Result{Status: publish.Rejected, Reason: reason}
			continue
		}
		e.elem = appendFields(e.elem[:0], r)
		if over+len(e.elem) > e.max {
			res[i] = publish.Result{Status: publish.Rejected, Reason: fmt.Sprintf("reading encodes to %d bytes, over the %d-byte payload limit", len(e.elem), e.max)}
			continue
		}
		if first >= 0 && !e.joins(b, first, last, i, res, over) {
			flush()
		}
		if first < 0 {
			first = i
		}
		last = i
		e.body = append(e.body, e.elem...)
	}
	flush()
	return dst
}

// joins reports whether reading i can join the run first..last.
func (e *encoder) joins(b *pipeline.Batch, first, last, i int, res []publish.Result, over int) bool {
	r := &b.Readings[i]
	prev := &b.Readings[last]
	if last != i-1 || r.Seq != prev.Seq+1 || !r.Time.Equal(b.Readings[first].Time) {
		return false
	}
	if over+len(e.body)+len(e.elem) > e.max {
		return false
	}
	for j := first; j <= last; j++ {
		if res[j].Status == publish.Rejected {
			continue
		}
		if fieldsCollide(b.Readings[j].Metric, r.Metric) {
			return false
		}
	}
	return true
}

// fieldsCollide reports whether metrics a and b would write the same key
// (a and a_quality).
func fieldsCollide(a, b string) bool {
	if len(a) > len(b) {
		a, b = b, a
	}
	return a == b || strings.HasPrefix(b, a) && b[len(a):] == qualitySuffix
}

func sampleMetricProblem(m string) string {
	if m == "" {
		return "empty metric name"
	}
	for _, k := range sampleReserved {
		if m == k {
			return fmt.Sprintf("metric name %q is a reserved key of the sample layout", m)
		}
	}
	return ""
}

func appendFields(dst []byte, r *pipeline.Reading) []byte {
	dst = append(dst, ',')
	dst = appendString(dst, r.Metric)
	dst = append(dst, ':')
	if r.Text != "" {
		dst = appendString(dst, r.Text)
	} else {
		dst = appendFloat(dst, r.Value)
	}
	dst = appendKey(dst, r.Metric, qualitySuffix)
	dst = append(dst, '"')
	dst = append(dst, r.Quality.String()...)
	return append(dst, '"')
}

// appendKey appends ,"<metric><suffix>": without building the key string.
func appendKey(dst []byte, metric, suffix string) []byte {
	dst = append(dst, ',')
	dst = appendString(dst, metric)
	dst = dst[:len(dst)-1] // reopen the quoted string; suffix needs no escaping
	dst = append(dst, suffix...)
	return append(dst, `":`...)
}

// reasonNotFinite is the rejection reason the other JSON publishers use too.
const reasonNotFinite = "value is not a finite number"

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// finiteReading reports whether every number of r can be written as JSON
// (which has no NaN or infinity).
func finiteReading(r *pipeline.Reading) bool {
	return finite(r.Value) && (r.Count <= 1 || finite(r.Min) && finite(r.Max) && finite(r.Last))
}

// appendFloat writes a finite v as a JSON number.
func appendFloat(dst []byte, v float64) []byte {
	return strconv.AppendFloat(dst, v, 'g', -1, 64)
}

const hex = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
