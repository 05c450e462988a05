package mlx90640

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"syscall"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/internal/clock/clocktest"
	"github.com/stirling-iot/stirling/sensors"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/physic"
)

// newFakeClock is virtual time that advances only when slept.
func newFakeClock() *clocktest.Fake {
	return clocktest.NewAuto(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
}

func be(words ...uint16) []byte {
	b := make([]byte, 2*len(words))
	for i, w := range words {
		b[2*i], b[2*i+1] = byte(w>>8), byte(w)
	}
	return b
}

func addrBytes(a uint16) []byte { return []byte{byte(a >> 8), byte(a)} }

// readOps is the transactions reading words at addr in chunks.
func readOps(addr uint16, words []uint16, chunk int) []i2ctest.IO {
	var ops []i2ctest.IO
	for off := 0; off < len(words); off += chunk {
		n := min(chunk, len(words)-off)
		ops = append(ops, i2ctest.IO{Addr: Addr, W: addrBytes(addr + uint16(off)), R: be(words[off : off+n]...)})
	}
	return ops
}

func statusOp(s uint16) i2ctest.IO {
	return i2ctest.IO{Addr: Addr, W: addrBytes(StatusAddr), R: be(s)}
}

func writeOp(addr, v uint16) i2ctest.IO {
	return i2ctest.IO{Addr: Addr, W: append(addrBytes(addr), byte(v>>8), byte(v))}
}

var clearOp = writeOp(StatusAddr, 0x0030)

func vectorByName(t testing.TB, name string) vector {
	t.Helper()
	for _, v := range loadVectors(t) {
		if v.name == name {
			return v
		}
	}
	t.Fatalf("vector %s missing", name)
	return vector{}
}

// newOps is what New does with a control register that reads ctrl and
// must become want.
func newOps(ee []uint16, chunk int, ctrl, want uint16) []i2ctest.IO {
	ops := readOps(EEPROMAddr, ee, chunk)
	ops = append(ops, i2ctest.IO{Addr: Addr, W: addrBytes(ControlAddr), R: be(ctrl)})
	if want != ctrl {
		ops = append(ops, writeOp(ControlAddr, want), i2ctest.IO{Addr: Addr, W: addrBytes(ControlAddr), R: be(want)})
	}
	return ops
}

func testOpts(clk *clocktest.Fake, chunk int) *Opts {
	o := DefaultOpts()
	o.Clock = clk
	o.ChunkWords = chunk
	return &o
}

func TestDevReadSubpage(t *testing.T) {
	a0 := vectorByName(t, "A_f0_chess18_sp0_e095_trTa8")
	a1 := vectorByName(t, "A_f1_chess18_sp1_e1_trTa8")
	ram0, ram1 := a0.Frame[:RAMSize], a1.Frame[:RAMSize]
	for _, tc := range []struct {
		name  string
		chunk int
		ctrl  uint16 // control register before New
		want  uint16 // after New (4 Hz, 18 bit, chess; other bits kept)
		ops   func(chunk int) []i2ctest.IO
		check func(t *testing.T, r *RawFrame, err error, s Stats)
	}{
		{
			name: "single transaction, poll until ready", ctrl: 0x1901, want: 0x1981,
			ops: func(chunk int) []i2ctest.IO {
				ops := []i2ctest.IO{statusOp(0x0000), statusOp(0x0001)}
				ops = append(ops, statusOp(0x0008))
				ops = append(ops, readOps(RAMAddr, ram0, chunk)...)
				return append(ops, statusOp(0x0008), clearOp)
			},
			check: func(t *testing.T, r *RawFrame, err error, s Stats) {
				if err != nil {
					t.Fatal(err)
				}
				for i := range RAMSize {
					if r[i] != ram0[i] {
						t.Fatalf("word %d = 0x%04X, want 0x%04X", i, r[i], ram0[i])
					}
				}
				if r[IdxControl] != 0x1981 || r[IdxSubpage] != 0 {
					t.Fatalf("control 0x%04X subpage %d", r[IdxControl], r[IdxSubpage])
				}
				if s.Subpages != 1 || s.Retries != 0 {
					t.Fatalf("stats %+v", s)
				}
			},
		},
		{
			name: "chunked, other control bits kept", chunk: 32, ctrl: 0x0D05, want: 0x1985,
			ops: func(chunk int) []i2ctest.IO {
				ops := []i2ctest.IO{statusOp(0x0009)}
				ops = append(ops, readOps(RAMAddr, ram1, chunk)...)
				return append(ops, statusOp(0x0009), clearOp)
			},
			check: func(t *testing.T, r *RawFrame, err error, s Stats) {
				if err != nil {
					t.Fatal(err)
				}
				if r[IdxSubpage] != 1 || r[100] != ram1[100] || r[831] != ram1[831] {
					t.Fatalf("subpage %d, words %v %v", r[IdxSubpage], r[100], r[831])
				}
			},
		},
		{
			name: "subpage changes during the read: retry", ctrl: 0x1981, want: 0x1981,
			ops: func(chunk int) []i2ctest.IO {
				ops := []i2ctest.IO{statusOp(0x0008)}
				ops = append(ops, readOps(RAMAddr, ram0, chunk)...)
				ops = append(ops, statusOp(0x0009), statusOp(0x0009))
				ops = append(ops, readOps(RAMAddr, ram1, chunk)...)
				return append(ops, statusOp(0x0009), clearOp)
			},
			check: func(t *testing.T, r *RawFrame, err error, s Stats) {
				if err != nil {
					t.Fatal(err)
				}
				if r[IdxSubpage] != 1 || r[5] != ram1[5] {
					t.Fatalf("got subpage %d", r[IdxSubpage])
				}
				if s.Retries != 1 || s.Subpages != 1 {
					t.Fatalf("stats %+v", s)
				}
			},
		},
		{
			name: "subpage keeps changing: corrupt", ctrl: 0x1981, want: 0x1981,
			ops: func(chunk int) []i2ctest.IO {
				var ops []i2ctest.IO
				for i := range maxAttempts {
					ops = append(ops, statusOp(0x0008|uint16(i&1)))
					ops = append(ops, readOps(RAMAddr, ram0, chunk)...)
					ops = append(ops, statusOp(0x0008|uint16(1-i&1)))
				}
				return ops
			},
			check: func(t *testing.T, r *RawFrame, err error, s Stats) {
				if !errors.Is(err, ErrCorruptFrame) {
					t.Fatalf("err %v, want ErrCorruptFrame", err)
				}
				if s.Retries != maxAttempts || s.CorruptFrames != 1 {
					t.Fatalf("stats %+v", s)
				}
			},
		},
		{
			name: "0x7FFF marker rejected after clearing the flag", ctrl: 0x1981, want: 0x1981,
			ops: func(chunk int) []i2ctest.IO {
				bad := append([]uint16(nil), ram0...)
				bad[64] = 0x7FFF // first pixel of row 2, subpage 0
				ops := []i2ctest.IO{statusOp(0x0008)}
				ops = append(ops, readOps(RAMAddr, bad, chunk)...)
				return append(ops, statusOp(0x0008), clearOp)
			},
			check: func(t *testing.T, r *RawFrame, err error, s Stats) {
				if !errors.Is(err, ErrCorruptFrame) {
					t.Fatalf("err %v, want ErrCorruptFrame", err)
				}
				if s.CorruptFrames != 1 || s.Subpages != 0 {
					t.Fatalf("stats %+v", s)
				}
			},
		},
		{
			name: "timeout", ctrl: 0x1981, want: 0x1981,
			ops: func(chunk int) []i2ctest.IO {
				// 4 Hz: period 250 ms, poll 12.5 ms, timeout 2*250+500 ms
				// (the first wait after New allows for the old rate too).
				var ops []i2ctest.IO
				for range 81 {
					ops = append(ops, statusOp(0x0000))
				}
				return ops
			},
			check: func(t *testing.T, r *RawFrame, err error, s Stats) {
				if !errors.Is(err, ErrTimeout) {
					t.Fatalf("err %v, want ErrTimeout", err)
				}
				if s.Timeouts != 1 {
					t.Fatalf("stats %+v", s)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chunk := tc.chunk
			if chunk == 0 {
				chunk = RAMSize
			}
			pb := &i2ctest.Playback{DontPanic: true}
			pb.Ops = append(newOps(a0.EEPROM, chunk, tc.ctrl, tc.want), tc.ops(chunk)...)
			clk := newFakeClock()
			d, err := New(context.Background(), pb, testOpts(clk, tc.chunk))
			if err != nil {
				t.Fatal(err)
			}
			if d.Control() != tc.want {
				t.Fatalf("control 0x%04X, want 0x%04X", d.Control(), tc.want)
			}
			var r RawFrame
			err = d.ReadSubpage(context.Background(), &r)
			tc.check(t, &r, err, d.Stats())
			if err := pb.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// faultBus fails transaction number n (0-based) with err and forwards the rest.
type faultBus struct {
	i2c.Bus
	n, count int
	err      error
}

func (f *faultBus) Tx(addr uint16, w, r []byte) error {
	defer func() { f.count++ }()
	if f.count == f.n {
		return f.err
	}
	return f.Bus.Tx(addr, w, r)
}

func TestDevBusErrors(t *testing.T) {
	a0 := vectorByName(t, "A_f0_chess18_sp0_e095_trTa8")
	for _, tc := range []struct {
		name  string
		err   error
		want  error
		count func(Stats) uint64
	}{
		{"NACK errno", fmt.Errorf("i2c: %w", syscall.EREMOTEIO), ErrNACK, func(s Stats) uint64 { return s.NACKs }},
		{"NACK text from sysfs-i2c", errors.New("sysfs-i2c: remote I/O error"), ErrNACK, func(s Stats) uint64 { return s.NACKs }},
		{"short read", fmt.Errorf("bus: %w", io.ErrUnexpectedEOF), ErrShortRead, func(s Stats) uint64 { return s.ShortReads }},
		{"other", errors.New("sysfs-i2c: input/output error"), ErrBus, func(s Stats) uint64 { return s.BusErrors }},
	} {
		for _, at := range []string{"eeprom", "status", "ram", "clear"} {
			t.Run(tc.name+"/"+at, func(t *testing.T) {
				ops := newOps(a0.EEPROM, RAMSize, 0x1981, 0x1981)
				n := map[string]int{"eeprom": 0, "status": len(ops), "ram": len(ops) + 1, "clear": len(ops) + 3}[at]
				ops = append(ops, statusOp(0x0008))
				ops = append(ops, readOps(RAMAddr, a0.Frame[:RAMSize], RAMSize)...)
				ops = append(ops, statusOp(0x0008), clearOp)
				bus := &faultBus{Bus: &i2ctest.Playback{Ops: ops, DontPanic: true}, n: n, err: tc.err}
				d, err := New(context.Background(), bus, testOpts(newFakeClock(), 0))
				if at == "eeprom" {
					if !errors.Is(err, tc.want) {
						t.Fatalf("New: %v, want %v", err, tc.want)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				var r RawFrame
				err = d.ReadSubpage(context.Background(), &r)
				if !errors.Is(err, tc.want) || !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v wrapping %v", err, tc.want, tc.err)
				}
				if got := tc.count(d.Stats()); got != 1 {
					t.Fatalf("counter %d, want 1 (%+v)", got, d.Stats())
				}
			})
		}
	}
}

func TestDevNewErrors(t *testing.T) {
	a0 := vectorByName(t, "A_f0_chess18_sp0_e095_trTa8")
	t.Run("control register does not stick", func(t *testing.T) {
		ops := readOps(EEPROMAddr, a0.EEPROM, RAMSize)
		ops = append(ops, i2ctest.IO{Addr: Addr, W: addrBytes(ControlAddr), R: be(0x1901)},
			writeOp(ControlAddr, 0x1981), i2ctest.IO{Addr: Addr, W: addrBytes(ControlAddr), R: be(0x1901)})
		_, err := New(context.Background(), &i2ctest.Playback{Ops: ops, DontPanic: true}, nil)
		if !errors.Is(err, ErrVerify) {
			t.Fatalf("err %v, want ErrVerify", err)
		}
	})
	t.Run("blank EEPROM", func(t *testing.T) {
		ops := readOps(EEPROMAddr, make([]uint16, EEPROMSize), RAMSize)
		_, err := New(context.Background(), &i2ctest.Playback{Ops: ops, DontPanic: true}, nil)
		if !errors.Is(err, ErrBadEEPROM) {
			t.Fatalf("err %v, want ErrBadEEPROM", err)
		}
	})
	for _, o := range []Opts{
		{RefreshRate: 3 * physic.Hertz},
		{Resolution: 20},
		{Emissivity: 1.5},
		{ChunkWords: -1},
		{Pattern: 2},
	} {
		t.Run(fmt.Sprintf("opts %+v", o), func(t *testing.T) {
			_, err := New(context.Background(), &i2ctest.Playback{DontPanic: true}, &o)
			if !errors.Is(err, ErrOpts) {
				t.Fatalf("err %v, want ErrOpts", err)
			}
		})
	}
	t.Run("cancelled context while waiting", func(t *testing.T) {
		ops := newOps(a0.EEPROM, RAMSize, 0x1981, 0x1981)
		ops = append(ops, statusOp(0))
		d, err := New(context.Background(), &i2ctest.Playback{Ops: ops, DontPanic: true}, testOpts(newFakeClock(), 0))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var r RawFrame
		if err := d.ReadSubpage(ctx, &r); !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v, want context.Canceled", err)
		}
	})
	t.Run("halted", func(t *testing.T) {
		d, err := New(context.Background(), &i2ctest.Playback{Ops: newOps(a0.EEPROM, RAMSize, 0x1981, 0x1981), DontPanic: true}, testOpts(newFakeClock(), 0))
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		var r RawFrame
		if err := d.ReadSubpage(context.Background(), &r); err == nil {
			t.Fatal("read after Halt succeeded")
		}
	})
}

// TestDevNextFrame merges two subpages into a sensors.Frame with the broken
// and outlier pixels of the Abp EEPROM corrected, and checks them against
// the reference vector.
func TestDevNextFrame(t *testing.T) {
	abp := vectorByName(t, "Abp_f0_chess18_sp0_badpix_e095_trTa8")
	a1 := vectorByName(t, "A_f1_chess18_sp1_e1_trTa8")
	ops := newOps(abp.EEPROM, RAMSize, 0x1901, 0x1901)
	ops = append(ops, statusOp(0x0008))
	ops = append(ops, readOps(RAMAddr, abp.Frame[:RAMSize], RAMSize)...)
	ops = append(ops, statusOp(0x0008), clearOp, statusOp(0), statusOp(0x0009))
	ops = append(ops, readOps(RAMAddr, a1.Frame[:RAMSize], RAMSize)...)
	ops = append(ops, statusOp(0x0009), clearOp)
	pb := &i2ctest.Playback{Ops: ops, DontPanic: true}
	clk := newFakeClock()
	o := testOpts(clk, 0)
	o.RefreshRate = 2 * physic.Hertz
	d, err := New(context.Background(), pb, o)
	if err != nil {
		t.Fatal(err)
	}
	var f sensors.Frame
	if err := d.NextFrame(context.Background(), &f); err != nil {
		t.Fatal(err)
	}
	t0 := f.Time
	worst := 0.0
	for k := range Pixels {
		e := abp.Expected.ToCorrected[k]
		if (e != nil) != f.Valid[k] {
			t.Fatalf("pixel %d valid %v, expected computed %v", k, f.Valid[k], e != nil)
		}
		if e != nil {
			worst = max(worst, math.Abs(f.To[k]-*e))
			if f.Updated[k] != t0 {
				t.Fatalf("pixel %d updated %v", k, f.Updated[k])
			}
		}
	}
	if worst > 0.01 {
		t.Fatalf("subpage 0 max |dTo| %.3g", worst)
	}
	if !f.Bad[301] || !f.Bad[501] || f.Bad[300] {
		t.Fatal("bad pixel flags wrong")
	}
	if math.Abs(f.Ta-abp.Expected.Ta) > 1e-3 || math.Abs(f.Vdd-abp.Expected.Vdd) > 1e-5 || f.Seq != 1 {
		t.Fatalf("ta %v vdd %v seq %d", f.Ta, f.Vdd, f.Seq)
	}
	if err := d.NextFrame(context.Background(), &f); err != nil {
		t.Fatal(err)
	}
	for k := range Pixels {
		if !f.Valid[k] {
			t.Fatalf("pixel %d not valid after both subpages", k)
		}
	}
	if f.Seq != 2 || !f.Time.After(t0) || f.Updated[0] != t0 || f.Updated[1] != f.Time {
		t.Fatalf("seq %d time %v updated %v %v", f.Seq, f.Time, f.Updated[0], f.Updated[1])
	}
	if err := pb.Close(); err != nil {
		t.Fatal(err)
	}
	if s := d.Stats(); s.Subpages != 2 {
		t.Fatalf("stats %+v", s)
	}
}

func BenchmarkNextFrame(b *testing.B) {
	a0 := vectorByName(b, "A_f0_chess18_sp0_e095_trTa8")
	var ops []i2ctest.IO
	ops = append(ops, newOps(a0.EEPROM, RAMSize, 0x1981, 0x1981)...)
	d, err := New(context.Background(), &i2ctest.Playback{Ops: ops, DontPanic: true}, testOpts(newFakeClock(), 0))
	if err != nil {
		b.Fatal(err)
	}
	d.bus = &loopBus{ram: be(a0.Frame[:RAMSize]...)}
	var f sensors.Frame
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := d.NextFrame(ctx, &f); err != nil {
			b.Fatal(err)
		}
	}
}

// loopBus answers every status read with "new data, subpage 0" and every
// other read with the same RAM image.
type loopBus struct {
	ram []byte
}

func (l *loopBus) String() string                  { return "loop" }
func (l *loopBus) SetSpeed(physic.Frequency) error { return nil }
func (l *loopBus) Tx(addr uint16, w, r []byte) error {
	switch {
	case len(r) == 0:
	case len(w) == 2 && w[0] == 0x80 && w[1] == 0x00:
		r[0], r[1] = 0, 0x08
	default:
		copy(r, l.ram)
	}
	return nil
}

// TestDevTransactionShape records the bus traffic of one NextFrame: a status
// poll, one repeated-start read of all 832 RAM words, the status re-read and
// the flag clear, nothing else.
func TestDevTransactionShape(t *testing.T) {
	a0 := vectorByName(t, "A_f0_chess18_sp0_e095_trTa8")
	d, err := New(context.Background(), &i2ctest.Playback{Ops: newOps(a0.EEPROM, RAMSize, 0x1981, 0x1981), DontPanic: true}, testOpts(newFakeClock(), 0))
	if err != nil {
		t.Fatal(err)
	}
	rec := &i2ctest.Record{Bus: &loopBus{ram: be(a0.Frame[:RAMSize]...)}}
	d.bus = rec
	var f sensors.Frame
	if err := d.NextFrame(context.Background(), &f); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		w    []byte
		rLen int
	}{
		{addrBytes(StatusAddr), 2},
		{addrBytes(RAMAddr), 2 * RAMSize},
		{addrBytes(StatusAddr), 2},
		{[]byte{0x80, 0x00, 0x00, 0x30}, 0},
	}
	if len(rec.Ops) != len(want) {
		t.Fatalf("%d transactions: %+v", len(rec.Ops), rec.Ops)
	}
	for i, w := range want {
		op := rec.Ops[i]
		if op.Addr != Addr || string(op.W) != string(w.w) || len(op.R) != w.rLen {
			t.Fatalf("transaction %d: addr 0x%02X W %x len(R) %d, want W %x len(R) %d", i, op.Addr, op.W, len(op.R), w.w, w.rLen)
		}
	}
}
