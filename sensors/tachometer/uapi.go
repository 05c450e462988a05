package tachometer

import (
	"encoding/binary"
	"time"

	"github.com/stirling-iot/stirling/sensors"
)

// The Linux GPIO character device uAPI v2 (include/uapi/linux/gpio.h),
// written out for the one request this package makes. The layouts are the
// kernel's on every architecture we build for: the kernel aligns its 64-bit
// fields explicitly (__aligned_u64) and every uint64 below already sits at a
// multiple of 8, so 32-bit ARM (where Go aligns uint64 to 4) agrees.
// uapi_test.go pins the sizes and offsets.

const (
	uapiLinesMax             = 64
	uapiNameSize             = 32
	uapiNumAttrsMax          = 10
	uapiEventSize            = 48  // sizeof(struct gpio_v2_line_event)
	uapiRequestSize          = 592 // sizeof(struct gpio_v2_line_request)
	uapiConfigSize           = 272 // sizeof(struct gpio_v2_line_config)
	uapiGetLineIoctl uintptr = 0xC250B407
)

// gpio_v2_line_flag
const (
	flagInput          uint64 = 1 << 2
	flagEdgeRising     uint64 = 1 << 4
	flagEdgeFalling    uint64 = 1 << 5
	flagBiasPullUp     uint64 = 1 << 8
	flagBiasPullDown   uint64 = 1 << 9
	flagBiasDisabled   uint64 = 1 << 10
	eventRisingEdge    uint32 = 1
	eventFallingEdge   uint32 = 2
	minEventBuffer            = 64
	maxEventBuffer            = 16 * uapiLinesMax // the kernel clamps larger requests to this
	defaultEventBuffer        = 256
)

// lineAttribute is struct gpio_v2_line_attribute; Value is the union of
// flags, values and debounce_period_us.
type lineAttribute struct {
	ID    uint32
	_     uint32
	Value uint64
}

// lineConfigAttribute is struct gpio_v2_line_config_attribute.
type lineConfigAttribute struct {
	Attr lineAttribute
	Mask uint64
}

// lineConfig is struct gpio_v2_line_config.
type lineConfig struct {
	Flags    uint64
	NumAttrs uint32
	_        [5]uint32
	Attrs    [uapiNumAttrsMax]lineConfigAttribute
}

// lineRequest is struct gpio_v2_line_request, the argument of
// GPIO_V2_GET_LINE_IOCTL = _IOWR(0xB4, 0x07, struct gpio_v2_line_request).
type lineRequest struct {
	Offsets         [uapiLinesMax]uint32
	Consumer        [uapiNameSize]byte
	Config          lineConfig
	NumLines        uint32
	EventBufferSize uint32
	_               [5]uint32
	Fd              int32
}

// lineEvent is struct gpio_v2_line_event as read from the line request fd.
type lineEvent struct {
	TimestampNs uint64
	ID          uint32
	Offset      uint32
	Seqno       uint32
	LineSeqno   uint32
	_           [6]uint32
}

// biasFlags maps a Bias to line flags.
func biasFlags(b Bias) uint64 {
	switch b {
	case PullUp:
		return flagBiasPullUp
	case PullDown:
		return flagBiasPullDown
	case BiasDisabled:
		return flagBiasDisabled
	}
	return 0
}

// newLineRequest fills the request for one input line with both edges.
func newLineRequest(offset uint32, consumer string, bias Bias, bufferSize int) *lineRequest {
	r := &lineRequest{NumLines: 1, EventBufferSize: uint32(bufferSize)}
	r.Offsets[0] = offset
	copy(r.Consumer[:uapiNameSize-1], consumer)
	r.Config.Flags = flagInput | flagEdgeRising | flagEdgeFalling | biasFlags(bias)
	return r
}

// parseEvent decodes one gpio_v2_line_event in the machine's byte order.
func parseEvent(b []byte) lineEvent {
	e := binary.NativeEndian
	return lineEvent{
		TimestampNs: e.Uint64(b[0:]),
		ID:          e.Uint32(b[8:]),
		Offset:      e.Uint32(b[12:]),
		Seqno:       e.Uint32(b[16:]),
		LineSeqno:   e.Uint32(b[20:]),
	}
}

// putEvent encodes ev into b (len >= uapiEventSize); tests and tools use it
// to produce the kernel's byte stream.
func putEvent(b []byte, ev lineEvent) {
	e := binary.NativeEndian
	clear(b[:uapiEventSize])
	e.PutUint64(b[0:], ev.TimestampNs)
	e.PutUint32(b[8:], ev.ID)
	e.PutUint32(b[12:], ev.Offset)
	e.PutUint32(b[16:], ev.Seqno)
	e.PutUint32(b[20:], ev.LineSeqno)
}

// decoder turns raw events into sensors.Edges and watches line_seqno.
type decoder struct {
	lastSeq uint32
	seq     uint64 // line_seqno unwrapped to 64 bits
	started bool
}

// gap is what one event's sequence number says about lost events.
type gap struct {
	lost uint64 // events the kernel discarded before this one
}

// decode converts ev using the (wall, mono) pair sampled just after the read
// to place the kernel's CLOCK_MONOTONIC timestamp on the wall clock.
func (d *decoder) decode(ev lineEvent, wallNow time.Time, monoNow time.Duration) (sensors.Edge, gap) {
	var g gap
	if !d.started {
		d.seq = uint64(ev.LineSeqno)
	} else {
		// line_seqno counts from 1 and wraps at 2^32; a jump forward is lost
		// events (the FIFO overflowed and the kernel dropped the oldest).
		step := ev.LineSeqno - d.lastSeq
		if step != 1 {
			g.lost = uint64(step - 1)
		}
		d.seq += uint64(step)
	}
	d.started = true
	d.lastSeq = ev.LineSeqno
	mono := time.Duration(ev.TimestampNs)
	return sensors.Edge{
		Mono:    mono,
		Wall:    wallNow.Add(mono - monoNow),
		Rising:  ev.ID == eventRisingEdge,
		Seq:     d.seq,
		Precise: true,
	}, g
}
