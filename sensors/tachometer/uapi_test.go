package tachometer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"testing"
	"time"
	"unsafe"

	"github.com/stirling-iot/stirling/sensors"
)

// The kernel ABI (include/uapi/linux/gpio.h): sizes and the offsets that
// matter. These hold for every GOARCH; CI builds arm and arm64 too.
func TestUAPILayout(t *testing.T) {
	var r lineRequest
	var c lineConfig
	var ev lineEvent
	tests := []struct {
		name      string
		got, want uintptr
	}{
		{"sizeof(gpio_v2_line_request)", unsafe.Sizeof(r), uapiRequestSize},
		{"sizeof(gpio_v2_line_config)", unsafe.Sizeof(c), uapiConfigSize},
		{"sizeof(gpio_v2_line_event)", unsafe.Sizeof(ev), uapiEventSize},
		{"sizeof(gpio_v2_line_attribute)", unsafe.Sizeof(lineAttribute{}), 16},
		{"sizeof(gpio_v2_line_config_attribute)", unsafe.Sizeof(lineConfigAttribute{}), 24},
		{"request.consumer", unsafe.Offsetof(r.Consumer), 256},
		{"request.config", unsafe.Offsetof(r.Config), 288},
		{"request.num_lines", unsafe.Offsetof(r.NumLines), 560},
		{"request.event_buffer_size", unsafe.Offsetof(r.EventBufferSize), 564},
		{"request.fd", unsafe.Offsetof(r.Fd), 588},
		{"config.num_attrs", unsafe.Offsetof(c.NumAttrs), 8},
		{"config.attrs", unsafe.Offsetof(c.Attrs), 32},
		{"attribute.value", unsafe.Offsetof(lineAttribute{}.Value), 8},
		{"config_attribute.mask", unsafe.Offsetof(lineConfigAttribute{}.Mask), 16},
		{"event.id", unsafe.Offsetof(ev.ID), 8},
		{"event.offset", unsafe.Offsetof(ev.Offset), 12},
		{"event.seqno", unsafe.Offsetof(ev.Seqno), 16},
		{"event.line_seqno", unsafe.Offsetof(ev.LineSeqno), 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %d, want %d", tt.got, tt.want)
			}
		})
	}
	// _IOWR(0xB4, 0x07, struct gpio_v2_line_request)
	ioc := uintptr(3)<<30 | unsafe.Sizeof(r)<<16 | 0xB4<<8 | 0x07
	if ioc != uapiGetLineIoctl {
		t.Errorf("GPIO_V2_GET_LINE_IOCTL = %#x, want %#x", ioc, uapiGetLineIoctl)
	}
}

func TestNewLineRequest(t *testing.T) {
	tests := []struct {
		bias Bias
		want uint64
	}{
		{PullUp, flagInput | flagEdgeRising | flagEdgeFalling | flagBiasPullUp},
		{PullDown, flagInput | flagEdgeRising | flagEdgeFalling | flagBiasPullDown},
		{BiasDisabled, flagInput | flagEdgeRising | flagEdgeFalling | flagBiasDisabled},
		{BiasAsIs, flagInput | flagEdgeRising | flagEdgeFalling},
	}
	for _, tt := range tests {
		t.Run(tt.bias.String(), func(t *testing.T) {
			r := newLineRequest(4, "a-consumer-name-longer-than-thirty-two-bytes", tt.bias, 64)
			if r.Config.Flags != tt.want {
				t.Errorf("flags %#x, want %#x", r.Config.Flags, tt.want)
			}
			if r.Offsets[0] != 4 || r.NumLines != 1 || r.EventBufferSize != 64 {
				t.Errorf("offset %d lines %d buffer %d", r.Offsets[0], r.NumLines, r.EventBufferSize)
			}
			if r.Consumer[len(r.Consumer)-1] != 0 {
				t.Error("consumer not NUL-terminated")
			}
		})
	}
}

// events encodes kernel events; seqs are line_seqno values, ts in ns.
func events(t *testing.T, evs ...lineEvent) []byte {
	t.Helper()
	b := make([]byte, len(evs)*uapiEventSize)
	for i, ev := range evs {
		putEvent(b[i*uapiEventSize:], ev)
	}
	return b
}

// oneByte delivers a stream one byte per Read, like the worst reader.
type oneByte struct{ r io.Reader }

func (o oneByte) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return o.r.Read(p[:1])
}

func TestChardevDecode(t *testing.T) {
	wall0 := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
	now := func() (time.Time, time.Duration) { return wall0, 10 * time.Second }
	stream := []lineEvent{
		{TimestampNs: 9_000_000_000, ID: eventRisingEdge, Offset: 4, Seqno: 1, LineSeqno: 1},
		{TimestampNs: 9_000_600_000, ID: eventFallingEdge, Offset: 4, Seqno: 2, LineSeqno: 2},
		// the FIFO overflowed: line_seqno 3..5 were dropped
		{TimestampNs: 9_100_000_000, ID: eventRisingEdge, Offset: 4, Seqno: 6, LineSeqno: 6},
		{TimestampNs: 9_100_600_000, ID: eventFallingEdge, Offset: 4, Seqno: 7, LineSeqno: 7},
	}
	for _, tc := range []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"whole", func(r io.Reader) io.Reader { return r }},
		{"byte-by-byte", func(r io.Reader) io.Reader { return oneByte{r} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newChardev("test", tc.wrap(bytes.NewReader(events(t, stream...))), nil, 64, now, nil)
			var got []bool
			out := make([]sensors.Edge, 3)
			for len(got) < len(stream) {
				n, err := c.ReadEdges(context.Background(), out)
				if err != nil {
					t.Fatalf("after %d edges: %v", len(got), err)
				}
				for _, e := range out[:n] {
					got = append(got, e.Rising)
					i := len(got) - 1
					wantMono := time.Duration(stream[i].TimestampNs)
					if e.Mono != wantMono || !e.Precise || e.Seq != uint64(stream[i].LineSeqno) {
						t.Errorf("edge %d: %+v", i, e)
					}
					if want := wall0.Add(wantMono - 10*time.Second); !e.Wall.Equal(want) {
						t.Errorf("edge %d wall %v, want %v", i, e.Wall, want)
					}
				}
			}
			if want := []bool{true, false, true, false}; string(boolsStr(got)) != string(boolsStr(want)) {
				t.Errorf("polarities %v, want %v", got, want)
			}
			if st := c.Stats(); st != (ChardevStats{Events: 4, Overflows: 1, Lost: 3}) {
				t.Errorf("stats %+v", st)
			}
			if _, err := c.ReadEdges(context.Background(), out); err == nil || errors.Is(err, ErrClosed) {
				t.Errorf("read past the end: %v, want the reader's EOF", err)
			}
		})
	}
}

func boolsStr(b []bool) []byte {
	s := make([]byte, len(b))
	for i, v := range b {
		s[i] = '0'
		if v {
			s[i] = '1'
		}
	}
	return s
}

func TestChardevSeqWrap(t *testing.T) {
	c := newChardev("test", bytes.NewReader(events(t,
		lineEvent{TimestampNs: 1, ID: eventRisingEdge, LineSeqno: 0xFFFFFFFF},
		lineEvent{TimestampNs: 2, ID: eventFallingEdge, LineSeqno: 0},
		lineEvent{TimestampNs: 3, ID: eventRisingEdge, LineSeqno: 1},
	)), nil, 64, func() (time.Time, time.Duration) { return time.Unix(0, 0), 0 }, nil)
	out := make([]sensors.Edge, 8)
	n, err := c.ReadEdges(context.Background(), out)
	if err != nil || n != 3 {
		t.Fatalf("n=%d err=%v", n, err)
	}
	if out[1].Seq != out[0].Seq+1 || out[2].Seq != out[1].Seq+1 {
		t.Errorf("seqs %d %d %d not consecutive across the 32-bit wrap", out[0].Seq, out[1].Seq, out[2].Seq)
	}
	if st := c.Stats(); st.Overflows != 0 {
		t.Errorf("wrap counted as overflow: %+v", st)
	}
}

func TestChardevCancelAndClose(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	c := newChardev("pipe", pr, nil, 64, func() (time.Time, time.Duration) { return time.Unix(0, 0), 0 }, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.ReadEdges(ctx, make([]sensors.Edge, 1)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled read: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadEdges(context.Background(), make([]sensors.Edge, 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("read after close: %v", err)
	}
}

// TestChardevFile runs the os.File path (deadlines, cancellation, Close
// waking a blocked read) on a pipe, which Go polls like the line fd.
func TestChardevFile(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	c := newChardev("pipe", r, r, 64, func() (time.Time, time.Duration) { return time.Unix(100, 0), 100 * time.Second }, nil)
	if _, err := w.Write(events(t, lineEvent{TimestampNs: 99e9, ID: eventRisingEdge, LineSeqno: 1})); err != nil {
		t.Fatal(err)
	}
	out := make([]sensors.Edge, 4)
	if n, err := c.ReadEdges(context.Background(), out); n != 1 || err != nil || !out[0].Wall.Equal(time.Unix(99, 0)) {
		t.Fatalf("n=%d err=%v edge %+v", n, err, out[0])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.ReadEdges(ctx, out); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("blocked read, context expired: %v", err)
	}
	// The expired context left a deadline in the past; the next read must
	// not trip over it.
	go func() {
		time.Sleep(10 * time.Millisecond)
		_, _ = w.Write(events(t, lineEvent{TimestampNs: 99e9 + 1, ID: eventFallingEdge, LineSeqno: 2}))
	}()
	if n, err := c.ReadEdges(context.Background(), out); n != 1 || err != nil || out[0].Rising {
		t.Fatalf("read after cancel: n=%d err=%v", n, err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.ReadEdges(context.Background(), out)
		done <- err
	}()
	time.Sleep(10 * time.Millisecond)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("blocked read after Close: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not wake the blocked read")
	}
}
