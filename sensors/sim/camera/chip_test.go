package camera

import (
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/internal/clock"
	"github.com/stirling-iot/stirling/internal/clock/clocktest"
	"github.com/stirling-iot/stirling/sensors"
)

// newStepClock is a virtual clock that moves only when told to (or when
// something sleeps on it).
func newStepClock() *clocktest.Fake {
	return clocktest.NewAuto(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
}

// newTestChip is a noise-free chip on a step clock.
func newTestChip(t *testing.T, edit func(*Opts)) (*Chip, *clocktest.Fake) {
	t.Helper()
	clk := newStepClock()
	o := DefaultOpts()
	o.Clock = clk
	o.Noise = 0
	if edit != nil {
		edit(&o)
	}
	c, err := New(&o)
	if err != nil {
		t.Fatal(err)
	}
	return c, clk
}

func readWords(t *testing.T, c *Chip, reg uint16, n int) []uint16 {
	t.Helper()
	r := make([]byte, 2*n)
	if err := c.Tx(DefaultAddr, []byte{byte(reg >> 8), byte(reg)}, r); err != nil {
		t.Fatalf("read %#04x: %v", reg, err)
	}
	out := make([]uint16, n)
	for i := range out {
		out[i] = uint16(r[2*i])<<8 | uint16(r[2*i+1])
	}
	return out
}

func readReg(t *testing.T, c *Chip, reg uint16) uint16 {
	t.Helper()
	return readWords(t, c, reg, 1)[0]
}

func writeReg(t *testing.T, c *Chip, reg, v uint16) {
	t.Helper()
	if err := c.Tx(DefaultAddr, []byte{byte(reg >> 8), byte(reg), byte(v >> 8), byte(v)}, nil); err != nil {
		t.Fatalf("write %#04x: %v", reg, err)
	}
}

func TestDeviceB(t *testing.T) {
	ee, err := DeviceB()
	if err != nil {
		t.Fatal(err)
	}
	// Spot checks against the shared vector: control default, address,
	// and the device id words quoted in the provenance.
	for _, tc := range []struct {
		word int
		want uint16
	}{{0x0C, 0x1901}, {0x0F, 0xBE33}, {0x07, 0x0D22}, {0x08, 0xD185}, {0x09, 0x0189}} {
		if ee[tc.word] != tc.want {
			t.Errorf("EEPROM word %#x = %#04x, want %#04x", tc.word, ee[tc.word], tc.want)
		}
	}
}

func TestRegisterMap(t *testing.T) {
	c, _ := newTestChip(t, nil)
	ee, _ := DeviceB()
	got := readWords(t, c, EEPROMStart, eeWords)
	for i := range got {
		if got[i] != ee[i] {
			t.Fatalf("EEPROM word %d = %#04x, want %#04x", i, got[i], ee[i])
		}
	}
	if v := readReg(t, c, RegControl); v != 0x1901 {
		t.Errorf("power-on control = %#04x, want 0x1901 (EEPROM 0x240C)", v)
	}
	if v := readReg(t, c, RegStatus); v != 0 {
		t.Errorf("power-on status = %#04x, want 0", v)
	}
	if got := readWords(t, c, RAMStart, ramWords); len(got) != ramWords {
		t.Fatal("short RAM read")
	}
	tests := []struct {
		name string
		addr uint16
		w    []byte
		r    int
		want error
	}{
		{"other address", 0x34, []byte{0x80, 0x00}, 2, ErrNACK},
		{"unmapped register", DefaultAddr, []byte{0x30, 0x00}, 2, ErrAddress},
		{"read past RAM", DefaultAddr, []byte{0x07, 0x3F}, 4, ErrAddress},
		{"odd read", DefaultAddr, []byte{0x80, 0x00}, 3, ErrProtocol},
		{"read without address", DefaultAddr, nil, 2, ErrProtocol},
		{"RAM write", DefaultAddr, []byte{0x04, 0x00, 0x12, 0x34}, 0, ErrReadOnly},
		{"EEPROM write", DefaultAddr, []byte{0x24, 0x0C, 0x12, 0x34}, 0, ErrReadOnly},
		{"multi-word write", DefaultAddr, []byte{0x80, 0x0D, 0x19, 0x01, 0x00, 0x00}, 0, ErrProtocol},
		{"probe", DefaultAddr, nil, 0, nil},
		{"pointer only", DefaultAddr, []byte{0x80, 0x0D}, 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r []byte
			if tc.r > 0 {
				r = make([]byte, tc.r)
			}
			err := c.Tx(tc.addr, tc.w, r)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Tx = %v, want %v", err, tc.want)
			}
		})
	}
	if s := c.Stats(); s.NACKs != 1 || s.Transactions < uint64(len(tests)) {
		t.Errorf("stats %+v: want 1 NACK and at least %d transactions", s, len(tests))
	}
}

func TestNewDataFlagAndAlternation(t *testing.T) {
	c, clk := newTestChip(t, nil)
	period := 500 * time.Millisecond // power-on 2 Hz
	clk.Advance(period - time.Millisecond)
	if v := readReg(t, c, RegStatus); v&StatusNewData != 0 {
		t.Fatalf("status %#04x: new data before the first subpage completed", v)
	}
	want := 0
	for i := range 6 {
		clk.Advance(period)
		v := readReg(t, c, RegStatus)
		if v&StatusNewData == 0 {
			t.Fatalf("subpage %d: status %#04x has no new-data flag", i, v)
		}
		if got := int(v & StatusSubpage); got != want {
			t.Fatalf("subpage %d: status reports subpage %d, want %d", i, got, want)
		}
		writeReg(t, c, RegStatus, 0x0030)
		v = readReg(t, c, RegStatus)
		if v&StatusNewData != 0 || v&StatusOverwrite == 0 || int(v&StatusSubpage) != want {
			t.Fatalf("after writing 0x0030 status = %#04x, want flag clear, overwrite on, subpage %d", v, want)
		}
		want ^= 1
	}
	if s := c.Stats(); s.Subpages != 6 || s.Overwritten != 0 || s.Discarded != 0 {
		t.Errorf("stats %+v: want 6 subpages, none overwritten or discarded", s)
	}
}

func TestOverwrite(t *testing.T) {
	c, clk := newTestChip(t, nil)
	period := 500 * time.Millisecond
	clk.Advance(period)
	if v := readReg(t, c, RegStatus); v != StatusNewData {
		t.Fatalf("status %#04x, want new data in subpage 0", v)
	}
	ram := readWords(t, c, RAMStart, ramWords)
	// Overwrite disabled (power-on): the next subpages are discarded.
	clk.Advance(3 * period)
	if v := readReg(t, c, RegStatus); v != StatusNewData {
		t.Fatalf("status %#04x, want the unread subpage 0 kept", v)
	}
	again := readWords(t, c, RAMStart, ramWords)
	for i := range ram {
		if ram[i] != again[i] {
			t.Fatalf("RAM word %d changed while overwrite was disabled", i)
		}
	}
	if s := c.Stats(); s.Discarded != 3 || s.Subpages != 4 {
		t.Fatalf("stats %+v: want 4 subpages, 3 discarded", s)
	}
	// Enable overwrite, keep the flag: the next subpage replaces the data.
	writeReg(t, c, RegStatus, StatusNewData|StatusOverwrite)
	clk.Advance(period)
	if v := readReg(t, c, RegStatus); v != StatusOverwrite|StatusNewData {
		t.Fatalf("status %#04x, want overwrite on, new data, subpage 0 (alternation kept running)", v)
	}
	if s := c.Stats(); s.Overwritten != 1 {
		t.Fatalf("stats %+v: want 1 overwritten", s)
	}
	// A long gap: only the newest data is visible, every subpage counted.
	clk.Advance(1001 * period)
	if v := readReg(t, c, RegStatus); v != StatusOverwrite|StatusNewData|1 {
		t.Fatalf("status %#04x after a long gap, want subpage 1", v)
	}
	if s := c.Stats(); s.Subpages != 1006 || s.Overwritten != 1002 {
		t.Fatalf("stats %+v: want 1006 subpages, 1002 overwritten", s)
	}
}

func TestControlRegister(t *testing.T) {
	const base = 0x1901 // chess, 18-bit, 2 Hz, subpage mode
	tests := []struct {
		name     string
		ctrl     uint16
		period   time.Duration
		subpages []int // reported subpage of consecutive measurements
		chess    bool
		all      bool // every pixel written in each measurement
	}{
		{"0.5 Hz", base&^0x0380 | 0<<7, 2 * time.Second, []int{0, 1, 0}, true, false},
		{"4 Hz", base&^0x0380 | 3<<7, 250 * time.Millisecond, []int{0, 1, 0}, true, false},
		{"64 Hz", base&^0x0380 | 7<<7, time.Second / 64, []int{0, 1, 0, 1}, true, false},
		{"interleaved", base &^ ctrlChess, 500 * time.Millisecond, []int{0, 1}, false, false},
		{"repeat subpage 1", base | ctrlRepeat | 1<<4, 500 * time.Millisecond, []int{1, 1, 1}, true, false},
		{"repeat subpage 0", base | ctrlRepeat, 500 * time.Millisecond, []int{0, 0}, true, false},
		{"no subpages", base &^ ctrlSubpageMode, 500 * time.Millisecond, []int{0, 0}, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, clk := newTestChip(t, nil)
			writeReg(t, c, RegControl, tc.ctrl)
			writeReg(t, c, RegStatus, 0x0030)
			if got := readReg(t, c, RegControl); got != tc.ctrl {
				t.Fatalf("control reads %#04x, want %#04x", got, tc.ctrl)
			}
			if got := RefreshRate(tc.ctrl).Period(); got != tc.period {
				t.Fatalf("RefreshRate period %v, want %v", got, tc.period)
			}
			for i, want := range tc.subpages {
				clk.Advance(tc.period - time.Microsecond)
				if v := readReg(t, c, RegStatus); v&StatusNewData != 0 {
					t.Fatalf("measurement %d: done before its period", i)
				}
				clk.Advance(time.Microsecond)
				v := readReg(t, c, RegStatus)
				if v&StatusNewData == 0 || int(v&StatusSubpage) != want {
					t.Fatalf("measurement %d: status %#04x, want new data in subpage %d", i, v, want)
				}
				if i == 0 {
					// RAM starts empty: exactly the subpage's pixels are measured.
					var scene [sensors.Pixels]float64
					c.Scene(&scene)
					for p := range scene {
						measured := !math.IsNaN(scene[p])
						if wantMeasured := tc.all || inSubpage(p, want, tc.chess); measured != wantMeasured {
							t.Fatalf("pixel %d (row %d col %d) measured=%v, want %v", p, p/32, p%32, measured, wantMeasured)
						}
					}
				}
				writeReg(t, c, RegStatus, 0x0030)
			}
		})
	}
}

func TestRefreshTimingScaledClock(t *testing.T) {
	// 1000x: the 2 Hz default runs a subpage every 0.5 ms of wall time.
	o := DefaultOpts()
	clk := clock.NewScaled(time.Now(), 1000)
	o.Clock = clk
	c, err := New(&o)
	if err != nil {
		t.Fatal(err)
	}
	start := clk.Now()
	var flags int
	deadline := time.Now().Add(200 * time.Millisecond)
	for time.Now().Before(deadline) {
		if readReg(t, c, RegStatus)&StatusNewData != 0 {
			flags++
			writeReg(t, c, RegStatus, 0x0030)
		}
		time.Sleep(100 * time.Microsecond)
	}
	before := clk.Now()
	readReg(t, c, RegStatus)
	after := clk.Now()
	lo := uint64(before.Sub(start) / (500 * time.Millisecond))
	hi := uint64(after.Sub(start)/(500*time.Millisecond)) + 1
	s := c.Stats()
	if s.Subpages < lo || s.Subpages > hi {
		t.Fatalf("%v of virtual time produced %d subpages, want %d..%d", before.Sub(start), s.Subpages, lo, hi)
	}
	if flags == 0 || uint64(flags) > s.Subpages {
		t.Fatalf("saw %d new-data flags for %d subpages", flags, s.Subpages)
	}
}

func TestFaults(t *testing.T) {
	period := 500 * time.Millisecond
	t.Run("nack", func(t *testing.T) {
		c, _ := newTestChip(t, func(o *Opts) { o.Faults.NACK = true })
		if err := c.Tx(DefaultAddr, []byte{0x80, 0x00}, make([]byte, 2)); !errors.Is(err, ErrNACK) {
			t.Fatalf("Tx = %v, want ErrNACK", err)
		}
		if err := c.UpdateFaults(func(f *Faults) { f.NACK = false }); err != nil {
			t.Fatal(err)
		}
		readReg(t, c, RegStatus)
		if s := c.Stats(); s.NACKs != 1 || s.Faults != 1 {
			t.Fatalf("stats %+v, want 1 NACK, 1 fault", s)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		c, clk := newTestChip(t, func(o *Opts) { o.Faults.Timeout = true })
		t0 := clk.Now()
		err := c.Tx(DefaultAddr, []byte{0x80, 0x00}, make([]byte, 2))
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("Tx = %v, want ErrTimeout", err)
		}
		if d := clk.Now().Sub(t0); d != DefaultTimeoutDelay {
			t.Fatalf("Tx blocked %v, want %v", d, DefaultTimeoutDelay)
		}
		if s := c.Stats(); s.Timeouts != 1 {
			t.Fatalf("stats %+v, want 1 timeout", s)
		}
	})
	t.Run("stuck new-data flag", func(t *testing.T) {
		c, clk := newTestChip(t, func(o *Opts) { o.Faults.StuckNewData = true })
		for range 4 {
			clk.Advance(period)
			if v := readReg(t, c, RegStatus); v&StatusNewData != 0 {
				t.Fatalf("status %#04x: flag set while stuck", v)
			}
		}
		if s := c.Stats(); s.Subpages != 4 || s.StuckFlags != 4 {
			t.Fatalf("stats %+v, want 4 subpages with stuck flags", s)
		}
		_ = c.UpdateFaults(func(f *Faults) { f.StuckNewData = false })
		clk.Advance(period)
		if v := readReg(t, c, RegStatus); v&StatusNewData == 0 {
			t.Fatalf("status %#04x: no flag after the fault ended", v)
		}
	})
	t.Run("corrupt frames", func(t *testing.T) {
		c, clk := newTestChip(t, func(o *Opts) { o.Faults.CorruptFrames = true })
		clk.Advance(period)
		sp := int(readReg(t, c, RegStatus) & StatusSubpage)
		ram := readWords(t, c, RAMStart, sensors.Pixels)
		for i, v := range ram {
			if inSubpage(i, sp, true) && v != 0x7FFF {
				t.Fatalf("pixel %d of subpage %d = %#04x, want 0x7FFF", i, sp, v)
			}
		}
		if s := c.Stats(); s.Corrupted != 1 {
			t.Fatalf("stats %+v, want 1 corrupted", s)
		}
	})
	t.Run("unplug and replug", func(t *testing.T) {
		c, clk := newTestChip(t, nil)
		writeReg(t, c, RegControl, 0x1181)
		_ = c.UpdateFaults(func(f *Faults) { f.Unplugged = true })
		clk.Advance(10 * period)
		for _, reg := range []uint16{RegStatus, RegControl, EEPROMStart} {
			if err := c.Tx(DefaultAddr, []byte{byte(reg >> 8), byte(reg)}, make([]byte, 2)); !errors.Is(err, ErrNACK) {
				t.Fatalf("read %#04x while unplugged = %v, want ErrNACK", reg, err)
			}
		}
		if s := c.Stats(); s.Subpages != 0 {
			t.Fatalf("stats %+v: an unplugged camera measured", s)
		}
		_ = c.UpdateFaults(func(f *Faults) { f.Unplugged = false })
		if v := readReg(t, c, RegControl); v != 0x1901 {
			t.Fatalf("control after replug = %#04x, want the power-on 0x1901", v)
		}
		if v := readReg(t, c, RegStatus); v != 0 {
			t.Fatalf("status after replug = %#04x, want 0", v)
		}
		if s := c.Stats(); s.PowerOns != 2 || s.NACKs != 3 {
			t.Fatalf("stats %+v, want 2 power-ons and 3 NACKs", s)
		}
	})
	t.Run("transient nacks", func(t *testing.T) {
		count := func(seed uint64) (int, []bool) {
			c, _ := newTestChip(t, func(o *Opts) { o.Faults.NACKProbability = 0.3; o.Faults.Seed = seed })
			var n int
			var seq []bool
			for range 2000 {
				err := c.Tx(DefaultAddr, []byte{0x80, 0x00}, make([]byte, 2))
				if err != nil && !errors.Is(err, ErrNACK) {
					t.Fatal(err)
				}
				if err != nil {
					n++
				}
				seq = append(seq, err != nil)
			}
			return n, seq
		}
		n, a := count(7)
		if n < 500 || n > 700 {
			t.Fatalf("%d of 2000 transactions failed at p=0.3", n)
		}
		_, b := count(7)
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("transaction %d differs between runs with the same seed", i)
			}
		}
	})
	t.Run("invalid", func(t *testing.T) {
		c, _ := newTestChip(t, nil)
		if err := c.SetFaults(Faults{NACKProbability: 2}); err == nil {
			t.Fatal("nack_probability 2 accepted")
		}
	})
}

func TestSetSpeed(t *testing.T) {
	c, _ := newTestChip(t, nil)
	if err := c.SetSpeed(MaxSpeed); err != nil {
		t.Fatal(err)
	}
	if err := c.SetSpeed(2 * MaxSpeed); err == nil {
		t.Fatal("2 MHz accepted")
	}
}

// TestConcurrentUse hammers the chip from several goroutines while faults
// change; run with -race.
func TestConcurrentUse(t *testing.T) {
	c, clk := newTestChip(t, nil)
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf [2 * ramWords]byte
			for {
				select {
				case <-done:
					return
				default:
				}
				_ = c.Tx(DefaultAddr, []byte{0x04, 0x00}, buf[:])
				_ = c.Tx(DefaultAddr, []byte{0x80, 0x00, 0x00, 0x30}, nil)
				clk.Advance(50 * time.Millisecond)
			}
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; i < 200 || (c.Stats().Subpages < 10 && time.Now().Before(deadline)); i++ {
		_ = c.UpdateFaults(func(f *Faults) { f.NACKProbability = float64(i%3) / 10; f.Unplugged = i%50 == 49 })
		_ = c.Stats()
		var s [sensors.Pixels]float64
		c.Scene(&s)
	}
	close(done)
	wg.Wait()
	if s := c.Stats(); s.Transactions == 0 || s.Subpages == 0 {
		t.Fatalf("stats %+v: nothing happened", s)
	}
}
