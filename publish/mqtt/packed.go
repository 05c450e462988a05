package mqtt

import (
	"fmt"
	"strconv"
	"time"

	"github.com/stirling-iot/stirling/pipeline"
	"github.com/stirling-iot/stirling/publish"
)

// Packed sends readings in a compact, column-light envelope sized to AWS
// IoT Core's metering: every PUBLISH is billed in 5 KB increments of
// payload plus topic, so each message is filled up to, never over, a
// whole number of those units. Metric names and units are sent once per
// message; readings that share a timestamp and have consecutive sequence
// numbers form one row of [ms since ts, seq - seq of the message, metric
// index, value, metric index, value, ...]. Window statistics (count, min,
// max, last) are left out, as in the sample layout. With MaxLatency the
// publisher holds records until a message is full (see publish.Packer).
// Schema: schemas/packed.schema.json.
const Packed Layout = "packed"

// BillingUnit is the size in which IoT Core meters a PUBLISH: payload plus
// topic, rounded up to the next 5 KB (5,120 bytes).
const BillingUnit = 5 * 1024

// Units returns the IoT Core billable units of one PUBLISH.
func Units(topic string, payloadLen int) int {
	return (len(topic) + payloadLen + BillingUnit - 1) / BillingUnit
}

// packedCap returns the payload limit of packed messages: the largest whole
// number of billing units (payload plus topic) within max, at least one.
func packedCap(topic string, limit int) int {
	k := max(1, (limit+len(topic))/BillingUnit)
	return min(k*BillingUnit-len(topic), limit)
}

// packer builds one packed message.
type packer struct {
	e          *encoder
	b          *pipeline.Batch
	max        int
	seq0       uint64
	ts0        int64
	seqWidth   int              // digits of the widest seq the batch holds
	names      map[string]int   // metric -> index in the message
	metrics    []byte           // ,"name" per metric (first without comma)
	units      []byte           // ,"unit" per metric
	rows       []byte           // the rows, comma-separated; the last one lacks its ]
	quality    []byte           // ,"seq":"BAD" per reading not GOOD
	rowTs      int64            // ms of the open row
	rowLast    uint64           // seq of the open row's last reading
	first      int              // index of the first reading, -1 when empty
	last       int              // index of the last reading
	nmetrics   int              // entries in metrics
	nameOrder  []string         // metric names in index order (for undo)
	checkpoint packerCheckpoint // state before the last add
}

type packerCheckpoint struct {
	metrics, units, rows, quality int
	nmetrics                      int
	rowTs                         int64
	rowLast                       uint64
	first, last                   int
}

func newPacker(e *encoder, b *pipeline.Batch, max int) *packer {
	p := &packer{e: e, b: b, max: max, names: map[string]int{}, first: -1}
	if n := len(b.Readings); n > 0 {
		p.seqWidth = len(strconv.FormatUint(b.Readings[n-1].Seq, 10))
	}
	return p
}

func (p *packer) reset() {
	clear(p.names)
	p.metrics, p.units, p.rows, p.quality = p.metrics[:0], p.units[:0], p.rows[:0], p.quality[:0]
	p.nmetrics, p.nameOrder, p.first, p.last = 0, p.nameOrder[:0], -1, -1
}

// size is the length of the message as it stands, with seq_last counted at
// the widest seq of the batch.
func (p *packer) size() int {
	n := len(`{"device":`) + len(p.e.device) + len(`,"batch":`) + len(strconv.FormatUint(p.b.ID, 10))
	n += len(`,"seq":`) + len(strconv.FormatUint(p.seq0, 10)) + len(`,"seq_last":`) + p.seqWidth
	n += len(`,"ts":`) + len(strconv.FormatInt(p.ts0, 10))
	n += len(`,"metrics":[`) + len(p.metrics) + len(`],"units":[`) + len(p.units)
	n += len(`],"rows":[`) + len(p.rows) + len(`]]`)
	if len(p.quality) > 0 {
		n += len(`,"quality":{`) + len(p.quality) + len(`}`)
	}
	return n + len(`}`)
}

func (p *packer) save() {
	p.checkpoint = packerCheckpoint{len(p.metrics), len(p.units), len(p.rows), len(p.quality),
		p.nmetrics, p.rowTs, p.rowLast, p.first, p.last}
}

func (p *packer) undo() {
	c := p.checkpoint
	p.metrics, p.units, p.rows, p.quality = p.metrics[:c.metrics], p.units[:c.units], p.rows[:c.rows], p.quality[:c.quality]
	for _, m := range p.nameOrder[c.nmetrics:] {
		delete(p.names, m)
	}
	p.nameOrder = p.nameOrder[:c.nmetrics]
	p.nmetrics, p.rowTs, p.rowLast, p.first, p.last = c.nmetrics, c.rowTs, c.rowLast, c.first, c.last
}

// add appends reading i and reports whether the message still fits in
// max; if not, it is left as it was.
func (p *packer) add(i int) bool {
	r := &p.b.Readings[i]
	ms := r.Time.UnixMilli()
	p.save()
	if p.first < 0 {
		p.seq0, p.ts0, p.first = r.Seq, ms, i
	}
	idx, ok := p.names[r.Metric]
	if !ok {
		idx = p.nmetrics
		p.names[r.Metric] = idx
		p.nameOrder = append(p.nameOrder, r.Metric)
		if idx > 0 {
			p.metrics = append(p.metrics, ',')
			p.units = append(p.units, ',')
		}
		p.metrics = appendString(p.metrics, r.Metric)
		p.units = appendString(p.units, r.Unit)
		p.nmetrics++
	}
	if len(p.rows) == 0 || ms != p.rowTs || r.Seq != p.rowLast+1 {
		if len(p.rows) > 0 {
			p.rows = append(p.rows, "],"...)
		}
		p.rows = append(p.rows, '[')
		p.rows = strconv.AppendInt(p.rows, ms-p.ts0, 10)
		p.rows = append(p.rows, ',')
		p.rows = strconv.AppendUint(p.rows, r.Seq-p.seq0, 10)
		p.rowTs = ms
	}
	p.rows = append(p.rows, ',')
	p.rows = strconv.AppendInt(p.rows, int64(idx), 10)
	p.rows = append(p.rows, ',')
	if r.Text != "" {
		p.rows = appendString(p.rows, r.Text)
	} else {
		p.rows = appendFloat(p.rows, r.Value)
	}
	p.rowLast = r.Seq
	if r.Quality != pipeline.Good {
		if len(p.quality) > 0 {
			p.quality = append(p.quality, ',')
		}
		p.quality = append(p.quality, '"')
		p.quality = strconv.AppendUint(p.quality, r.Seq, 10)
		p.quality = append(p.quality, `":"`...)
		p.quality = append(p.quality, r.Quality.String()...)
		p.quality = append(p.quality, '"')
	}
	p.last = i
	if p.size() > p.max {
		p.undo()
		return false
	}
	return true
}

// message returns the finished message; the packer must not be empty.
func (p *packer) message(hi int) message {
	out := make([]byte, 0, p.size())
	out = p.e.header(out, p.b.ID, p.seq0, p.b.Readings[p.last].Seq)
	out = append(out, `,"ts":`...)
	out = strconv.AppendInt(out, p.ts0, 10)
	out = append(out, `,"metrics":[`...)
	out = append(out, p.metrics...)
	out = append(out, `],"units":[`...)
	out = append(out, p.units...)
	out = append(out, `],"rows":[`...)
	out = append(out, p.rows...)
	out = append(out, "]]"...)
	if len(p.quality) > 0 {
		out = append(out, `,"quality":{`...)
		out = append(out, p.quality...)
		out = append(out, '}')
	}
	out = append(out, '}')
	return message{payload: out, lo: p.first, hi: hi}
}

// encodePacked appends the packed messages for b, each at most max bytes.
func (e *encoder) encodePacked(dst []message, b *pipeline.Batch, res []publish.Result) []message {
	p := newPacker(e, b, e.max)
	for i := range b.Readings {
		if res[i].Status == publish.Rejected {
			continue
		}
		r := &b.Readings[i]
		if !finite(r.Value) {
			res[i] = publish.Result{Status: publish.Rejected, Reason: reasonNotFinite}
			continue
		}
		if p.add(i) {
			continue
		}
		if p.first >= 0 {
			dst = append(dst, p.message(i))
			p.reset()
			if p.add(i) {
				continue
			}
		}
		p.reset()
		res[i] = publish.Result{Status: publish.Rejected, Reason: fmt.Sprintf("reading does not fit in a %d-byte packed message", e.max)}
	}
	if p.first >= 0 {
		dst = append(dst, p.message(len(b.Readings)))
	}
	return dst
}

// fitsPacked reports whether b's readings encode into one packed message of
// at most max bytes.
func (e *encoder) fitsPacked(b *pipeline.Batch, max int) bool {
	p := newPacker(e, b, max)
	for i := range b.Readings {
		if !finite(b.Readings[i].Value) {
			continue
		}
		if !p.add(i) {
			return false
		}
	}
	return true
}

// payloadCap is the payload limit the encoder fills: MaxPayload, or for
// Packed the largest whole number of billing units within it.
func payloadCap(o Opts) int {
	if o.Layout == Packed {
		return packedCap(o.Topic, o.MaxPayload)
	}
	return o.MaxPayload
}

// MaxLatency implements publish.Packer: Opts.MaxLatency.
func (p *Publisher) MaxLatency() time.Duration { return p.hold }

// Fits implements publish.Packer: b encodes into one message of at most
// one billing unit (payload plus topic).
func (p *Publisher) Fits(b *pipeline.Batch) bool {
	enc := p.enc.get()
	defer p.enc.put(enc)
	if enc.layout == Packed {
		return enc.fitsPacked(b, BillingUnit-len(p.topic))
	}
	res := make([]publish.Result, len(b.Readings))
	msgs := enc.encode(nil, b, res)
	return len(msgs) == 0 || len(msgs) == 1 && Units(p.topic, len(msgs[0].payload)) <= 1
}
