package pipeline

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// Quality is a reading's quality, with the meanings AWS IoT SiteWise gives
// them.
type Quality uint8

// Qualities. The zero value is Good so a fresh Reading is not accidentally
// marked bad, but every stage that cannot vouch for a value must set it.
const (
	Good Quality = iota
	Uncertain
	Bad
)

func (q Quality) String() string {
	switch q {
	case Good:
		return "GOOD"
	case Uncertain:
		return "UNCERTAIN"
	case Bad:
		return "BAD"
	}
	return fmt.Sprintf("Quality(%d)", uint8(q))
}

// MarshalText encodes q as GOOD, UNCERTAIN or BAD.
func (q Quality) MarshalText() ([]byte, error) { return []byte(q.String()), nil }

// UnmarshalText decodes GOOD, UNCERTAIN or BAD.
func (q *Quality) UnmarshalText(b []byte) error {
	switch string(b) {
	case "GOOD":
		*q = Good
	case "UNCERTAIN":
		*q = Uncertain
	case "BAD":
		*q = Bad
	default:
		return fmt.Errorf("unknown quality %q (want GOOD, UNCERTAIN or BAD)", b)
	}
	return nil
}

// Reading is one value of one metric: a raw sample, or a window aggregate
// (Count > 1, Value the mean). Time is the sensor timestamp, never the
// publish time.
type Reading struct {
	// Seq numbers every reading the agent ever spooled, contiguously from 1,
	// across restarts. It is assigned when the reading enters the spool, so
	// consumers can detect gaps and drop duplicates.
	Seq     uint64
	Metric  string
	Unit    string
	Time    time.Time
	Value   float64
	Text    string // string-valued metrics (engine_state); empty otherwise
	Quality Quality

	// Window aggregates; for a raw sample Count is 1 and Min = Max = Last = Value.
	Min, Max, Last float64
	Count          uint32
}

// Batch is the unit the pipeline hands to the spool and the spool hands to
// publishers: one spool record.
type Batch struct {
	// ID is the spool record's sequence number; 0 until the batch is spooled.
	ID       uint64
	Readings []Reading
	// Restart is set on the first batch a process spools after a restart
	// (nil otherwise): it announces the break so consumers can tell a gap
	// in sensor time from an engine that was off. It applies at the batch's
	// first reading.
	Restart *Restart
}

// Restart says where the previous process left off: what it had made
// durable in the spool when it stopped (cleanly or not). Readings after
// PreviousSeq continue the numbering; whatever the previous process had not
// made durable (at most its open window and its unsynced records) is the
// gap between PreviousTime and the batch's first reading.
type Restart struct {
	// PreviousSeq is the newest Reading.Seq the previous process made
	// durable; 0 when its spool was empty or unreadable.
	PreviousSeq uint64
	// PreviousTime is the newest sensor time in that process's last durable
	// record (a window aggregate is stamped with its window's start); zero
	// when unknown.
	PreviousTime time.Time
}

// Payload formats: 1 is a batch, 2 a batch with a restart announcement
// before its readings.
const (
	batchFormat        = 1
	batchFormatRestart = 2
)

// ErrCorrupt is returned when a spooled batch cannot be decoded.
var ErrCorrupt = errors.New("pipeline: corrupt batch encoding")

// AppendBinary appends the compact binary encoding of b to dst (the spool's
// record payload). ID is not encoded: it is the record's own sequence number.
func (b *Batch) AppendBinary(dst []byte) ([]byte, error) {
	if b.Restart == nil {
		dst = append(dst, batchFormat)
	} else {
		dst = appendRestart(dst, b.Restart)
	}
	dst = binary.AppendUvarint(dst, uint64(len(b.Readings)))
	var prevSeq uint64
	var prevT int64
	for i := range b.Readings {
		r := &b.Readings[i]
		dst = binary.AppendUvarint(dst, r.Seq-prevSeq)
		prevSeq = r.Seq
		t := r.Time.UnixNano()
		dst = binary.AppendVarint(dst, t-prevT)
		prevT = t
		dst = appendString(dst, r.Metric)
		dst = appendString(dst, r.Unit)
		dst = appendString(dst, r.Text)
		dst = append(dst, byte(r.Quality))
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(r.Value))
		dst = binary.AppendUvarint(dst, uint64(r.Count))
		if r.Count > 1 {
			dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(r.Min))
			dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(r.Max))
			dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(r.Last))
		}
	}
	return dst, nil
}

// appendRestart writes the format byte of a batch with a restart
// announcement and the announcement itself.
func appendRestart(dst []byte, r *Restart) []byte {
	dst = append(dst, batchFormatRestart)
	dst = binary.AppendUvarint(dst, r.PreviousSeq)
	var t int64
	if !r.PreviousTime.IsZero() {
		t = r.PreviousTime.UnixNano()
	}
	return binary.AppendVarint(dst, t)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// UnmarshalBinary decodes a payload written by AppendBinary into b, reusing
// b.Readings' backing array. Strings are interned against the previous
// reading so steady-state decoding of a repeated metric set does not allocate
// per reading.
func (b *Batch) UnmarshalBinary(p []byte) error {
	d := decoder{p: p}
	b.Restart = nil
	switch d.byte() {
	case batchFormat:
	case batchFormatRestart:
		r := &Restart{PreviousSeq: d.uvarint()}
		if t := d.varint(); t != 0 {
			r.PreviousTime = time.Unix(0, t)
		}
		if d.err != nil {
			return fmt.Errorf("%w: restart announcement", ErrCorrupt)
		}
		b.Restart = r
	default:
		return fmt.Errorf("%w: unknown format", ErrCorrupt)
	}
	n := d.uvarint()
	if d.err != nil || n > uint64(len(p)) {
		return fmt.Errorf("%w: reading count", ErrCorrupt)
	}
	old := b.Readings[:cap(b.Readings)]
	b.Readings = b.Readings[:0]
	var seq uint64
	var t int64
	for i := uint64(0); i < n; i++ {
		var r Reading
		seq += d.uvarint()
		t += d.varint()
		var prev *Reading
		if int(i) < len(old) {
			prev = &old[i]
		}
		r.Seq, r.Time = seq, time.Unix(0, t)
		r.Metric = d.string(prev, func(r *Reading) string { return r.Metric })
		r.Unit = d.string(prev, func(r *Reading) string { return r.Unit })
		r.Text = d.string(prev, func(r *Reading) string { return r.Text })
		r.Quality = Quality(d.byte())
		r.Value = d.float()
		r.Count = uint32(d.uvarint())
		if r.Count > 1 {
			r.Min, r.Max, r.Last = d.float(), d.float(), d.float()
		} else {
			r.Min, r.Max, r.Last = r.Value, r.Value, r.Value
		}
		if d.err != nil {
			return fmt.Errorf("%w: reading %d: %v", ErrCorrupt, i, d.err)
		}
		if r.Quality > Bad {
			return fmt.Errorf("%w: reading %d: quality %d", ErrCorrupt, i, r.Quality)
		}
		b.Readings = append(b.Readings, r)
	}
	if len(d.p) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(d.p))
	}
	return nil
}

type decoder struct {
	p   []byte
	err error
}

var errShort = errors.New("short payload")

func (d *decoder) byte() byte {
	if len(d.p) < 1 {
		d.err = errShort
		return 0
	}
	c := d.p[0]
	d.p = d.p[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.p)
	if n <= 0 {
		d.err = errShort
		return 0
	}
	d.p = d.p[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.p)
	if n <= 0 {
		d.err = errShort
		return 0
	}
	d.p = d.p[n:]
	return v
}

func (d *decoder) float() float64 {
	if len(d.p) < 8 {
		d.err = errShort
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.p))
	d.p = d.p[8:]
	return v
}

func (d *decoder) string(prev *Reading, field func(*Reading) string) string {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.p)) {
		d.err = errShort
		return ""
	}
	b := d.p[:n]
	d.p = d.p[n:]
	if prev != nil {
		if s := field(prev); s == string(b) {
			return s
		}
	}
	return string(b)
}
