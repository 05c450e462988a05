package mlx90640

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/stirling-iot/stirling/internal/clock"
	"github.com/stirling-iot/stirling/sensors"
	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
)

// Addr is the factory I2C address.
const Addr = 0x33

// Register bits.
const (
	statusNewData   = 1 << 3
	statusSubpage   = 1 << 0
	statusClear     = 0x0030 // Melexis INIT_STATUS_VALUE: clears "new data", keeps RAM overwrite on
	ctrlRefreshMask = 7 << 7
	ctrlResMask     = 3 << 10
	ctrlPatternBit  = 1 << 12
)

// maxAttempts bounds the re-reads of one subpage when the chip moves on to
// the next subpage while we read.
const maxAttempts = 3

// ErrOpts is wrapped by every invalid Opts error.
var ErrOpts = errors.New("invalid options")

// refreshRates are the refresh-rate codes 0..7, per subpage.
var refreshRates = [8]physic.Frequency{
	500 * physic.MilliHertz, physic.Hertz, 2 * physic.Hertz, 4 * physic.Hertz,
	8 * physic.Hertz, 16 * physic.Hertz, 32 * physic.Hertz, 64 * physic.Hertz,
}

// Opts configures a Dev. Start from DefaultOpts.
type Opts struct {
	// Addr is the I2C address; 0 means Addr (0x33).
	Addr uint16
	// RefreshRate is the subpage rate: 0.5, 1, 2, 4, 8, 16, 32 or 64 Hz (a
	// full 32x24 image takes two subpages). 4-8 Hz is plenty for an engine
	// and has less noise; 64 Hz needs a true 1 MHz bus. 0 means 4 Hz.
	RefreshRate physic.Frequency
	// Resolution is the ADC resolution in bits, 16..19; 0 means 18 (the
	// factory calibration resolution).
	Resolution int
	// Pattern is the reading pattern; Chess is the factory calibration.
	Pattern Pattern
	// Emissivity of the scene, (0, 1]; 0 means 0.95.
	Emissivity float64
	// ReflectedTemp is the reflected temperature in deg C; NaN means the
	// Melexis default Ta - TaShift.
	ReflectedTemp float64
	// ChunkWords limits the words read per I2C transaction; 0 reads the
	// 832 RAM words (and the EEPROM) in one repeated-start transaction.
	// Use e.g. 32 for adapters with small buffers.
	ChunkWords int
	// Timeout for one subpage; 0 derives it from the refresh rate
	// (two subpage periods plus 500 ms).
	Timeout time.Duration
	// Clock paces the status polling; nil means the wall clock. With a
	// clock.Scaled the driver runs in accelerated virtual time.
	Clock clock.Clock
	// Logger receives warnings (bad pixels, retries); nil discards them.
	Logger *slog.Logger
}

// DefaultOpts returns the options for the stirling setup: 4 Hz, 18 bit,
// chess pattern, emissivity 0.95, tr = Ta - 8, single-transaction reads.
func DefaultOpts() Opts {
	return Opts{
		Addr:          Addr,
		RefreshRate:   4 * physic.Hertz,
		Resolution:    18,
		Pattern:       Chess,
		Emissivity:    0.95,
		ReflectedTemp: math.NaN(),
	}
}

// RefreshCode returns the control-register code (0..7) of a refresh rate.
func RefreshCode(f physic.Frequency) (int, error) {
	for i, r := range refreshRates {
		if r == f {
			return i, nil
		}
	}
	return 0, fmt.Errorf("mlx90640: %w: refresh rate %s (want 0.5, 1, 2, 4, 8, 16, 32 or 64 Hz)", ErrOpts, f)
}

// normalise fills defaults and validates.
func (o Opts) normalise() (Opts, error) {
	if o.Addr == 0 {
		o.Addr = Addr
	}
	if o.RefreshRate == 0 {
		o.RefreshRate = 4 * physic.Hertz
	}
	if _, err := RefreshCode(o.RefreshRate); err != nil {
		return o, err
	}
	if o.Resolution == 0 {
		o.Resolution = 18
	}
	if o.Resolution < 16 || o.Resolution > 19 {
		return o, fmt.Errorf("mlx90640: %w: resolution %d bits (want 16..19)", ErrOpts, o.Resolution)
	}
	if o.Pattern > Chess {
		return o, fmt.Errorf("mlx90640: %w: pattern %d", ErrOpts, o.Pattern)
	}
	if o.Emissivity == 0 {
		o.Emissivity = 0.95
	}
	if !(o.Emissivity > 0 && o.Emissivity <= 1) {
		return o, fmt.Errorf("mlx90640: %w: emissivity %g (want 0 < e <= 1)", ErrOpts, o.Emissivity)
	}
	if o.ChunkWords < 0 || o.ChunkWords > RAMSize {
		return o, fmt.Errorf("mlx90640: %w: chunk of %d words (want 0..%d)", ErrOpts, o.ChunkWords, RAMSize)
	}
	if o.ChunkWords == 0 {
		o.ChunkWords = RAMSize
	}
	if o.Timeout < 0 {
		return o, fmt.Errorf("mlx90640: %w: negative timeout", ErrOpts)
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// Stats are the driver's counters since New. Safe to call at any time.
type Stats struct {
	Subpages      uint64 // subpages read, validated and returned
	Retries       uint64 // re-reads because the chip moved to the next subpage during a read
	CorruptFrames uint64 // subpages rejected for 0x7FFF markers or a subpage that kept changing
	Timeouts      uint64 // waits for new data that timed out
	NACKs         uint64 // transactions the chip did not acknowledge
	ShortReads    uint64 // transactions that returned fewer bytes than asked
	BusErrors     uint64 // other I2C errors
}

type counters struct {
	subpages, retries, corrupt, timeouts, nacks, short, bus atomic.Uint64
}

// Dev is an MLX90640 on an I2C bus. Its methods other than Stats must not be
// called concurrently.
type Dev struct {
	bus  i2c.Bus
	opts Opts
	p    *Params
	ctrl uint16
	clk  clock.Clock
	log  *slog.Logger
	poll time.Duration
	// period is the subpage period; lastReady is when the new-data flag was
	// last seen (zero before the first subpage). waitReady sleeps through
	// most of the next period instead of polling it, which keeps the status
	// reads (I2C transactions) and the wake-ups down.
	period    time.Duration
	lastReady time.Time
	first     time.Duration // timeout for the first subpage after New
	tmo       time.Duration
	c         counters

	mu     sync.Mutex
	halted atomic.Bool
	fresh  bool // no subpage read yet
	w      [4]byte
	rbuf   [2 * RAMSize]byte
	raw    RawFrame
	to     [Pixels]float64
}

// New reads the EEPROM, extracts the calibration and programs the refresh
// rate, resolution and pattern into the control register, leaving its other
// bits alone. The caller keeps ownership of bus. A bad-pixel status from the
// EEPROM is logged, not fatal (Params().Status has it); an EEPROM that cannot
// be a calibration is an error wrapping ErrBadEEPROM.
func New(ctx context.Context, bus i2c.Bus, opts *Opts) (*Dev, error) {
	o := DefaultOpts()
	if opts != nil {
		o = *opts
	}
	o, err := o.normalise()
	if err != nil {
		return nil, err
	}
	d := &Dev{bus: bus, opts: o, clk: o.Clock, log: o.Logger.With("component", "mlx90640"), fresh: true}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("mlx90640: %w", err)
	}
	ee := make([]uint16, EEPROMSize)
	if err := d.readWords("read EEPROM", EEPROMAddr, ee); err != nil {
		return nil, err
	}
	p, err := ExtractParameters(ee)
	if p == nil {
		return nil, err
	}
	if err != nil {
		d.log.Warn("EEPROM reports bad pixels", "status", p.Status, "broken", pixelList(p.BrokenPixels), "outliers", pixelList(p.OutlierPixels), "err", err)
	}
	d.p = p
	var one [1]uint16
	if err := d.readWords("read control register", ControlAddr, one[:]); err != nil {
		return nil, err
	}
	old := one[0]
	rate, _ := RefreshCode(o.RefreshRate)
	ctrl := old&^(ctrlRefreshMask|ctrlResMask|ctrlPatternBit) | uint16(rate)<<7 | uint16(o.Resolution-16)<<10 | uint16(o.Pattern)<<12
	if ctrl != old {
		if err := d.writeWord("write control register", ControlAddr, ctrl); err != nil {
			return nil, err
		}
		if err := d.readWords("verify control register", ControlAddr, one[:]); err != nil {
			return nil, err
		}
		if one[0] != ctrl {
			return nil, fmt.Errorf("mlx90640: write control register: %w: wrote 0x%04X, read 0x%04X", ErrVerify, ctrl, one[0])
		}
	}
	d.ctrl = ctrl
	period := o.RefreshRate.Period()
	oldPeriod := refreshRates[(old&ctrlRefreshMask)>>7].Period()
	d.tmo = o.Timeout
	if d.tmo == 0 {
		d.tmo = 2*period + 500*time.Millisecond
	}
	d.first = max(d.tmo, 2*oldPeriod+500*time.Millisecond)
	d.poll = min(max(period/20, time.Millisecond), 25*time.Millisecond)
	d.period = period
	d.log.Debug("configured", "control", fmt.Sprintf("0x%04X", ctrl), "previous", fmt.Sprintf("0x%04X", old), "refresh", o.RefreshRate, "resolution", o.Resolution, "pattern", o.Pattern)
	return d, nil
}

func pixelList(l [5]uint16) []int {
	var out []int
	for _, k := range l {
		if k != NoPixel {
			out = append(out, int(k))
		}
	}
	return out
}

// String names the device.
func (d *Dev) String() string { return fmt.Sprintf("MLX90640{%s, 0x%02X}", d.bus, d.opts.Addr) }

// Params returns the calibration read at New. Do not modify it.
func (d *Dev) Params() *Params { return d.p }

// Control returns the control register value the driver programmed.
func (d *Dev) Control() uint16 { return d.ctrl }

// Stats returns a snapshot of the counters.
func (d *Dev) Stats() Stats {
	return Stats{
		Subpages:      d.c.subpages.Load(),
		Retries:       d.c.retries.Load(),
		CorruptFrames: d.c.corrupt.Load(),
		Timeouts:      d.c.timeouts.Load(),
		NACKs:         d.c.nacks.Load(),
		ShortReads:    d.c.short.Load(),
		BusErrors:     d.c.bus.Load(),
	}
}

// Halt stops a wait in progress (within one poll interval) and makes later
// reads fail. The chip keeps measuring; it has no standby mode.
func (d *Dev) Halt() error {
	d.halted.Store(true)
	return nil
}

// Close halts the device. The bus stays open: it belongs to the caller.
func (d *Dev) Close() error { return d.Halt() }

var (
	_ conn.Resource = (*Dev)(nil)
	_ io.Closer     = (*Dev)(nil)
)

// errHalted is returned after Halt.
var errHalted = errors.New("mlx90640: halted")

// ReadSubpage waits for the next subpage and reads it into r: the 832 RAM
// words, the control register the driver programmed (r[832]) and the
// subpage number (r[833]). It polls the status register with the options'
// clock, reads the RAM in one repeated-start transaction (or ChunkWords
// chunks), re-reads the status and retries if the chip moved to the next
// subpage meanwhile, clears the new-data flag, and rejects frames holding
// 0x7FFF markers (ErrCorruptFrame). Errors wrap ErrTimeout, ErrNACK,
// ErrShortRead, ErrBus or ErrCorruptFrame, or the context's error.
func (d *Dev) ReadSubpage(ctx context.Context, r *RawFrame) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.readSubpage(ctx, r)
}

func (d *Dev) readSubpage(ctx context.Context, r *RawFrame) error {
	tmo := d.tmo
	if d.fresh {
		tmo = d.first
	}
	for range maxAttempts {
		status, err := d.waitReady(ctx, tmo)
		if err != nil {
			return err
		}
		if err := d.readWords("read RAM", RAMAddr, r[:RAMSize]); err != nil {
			return err
		}
		after, err := d.status()
		if err != nil {
			return err
		}
		if after&statusSubpage != status&statusSubpage {
			d.c.retries.Add(1)
			d.log.Debug("subpage changed during read, re-reading", "before", status&statusSubpage, "after", after&statusSubpage)
			continue
		}
		if err := d.writeWord("clear status", StatusAddr, statusClear); err != nil {
			return err
		}
		d.fresh = false
		r[IdxControl] = d.ctrl
		r[IdxSubpage] = status & statusSubpage
		if err := r.Validate(); err != nil {
			d.c.corrupt.Add(1)
			return fmt.Errorf("mlx90640: read subpage: %w", err)
		}
		d.c.subpages.Add(1)
		return nil
	}
	d.c.corrupt.Add(1)
	// Leave the flag set: the data in RAM is complete, the next call reads it.
	return fmt.Errorf("mlx90640: read subpage: %w: the subpage changed during %d reads in a row (bus too slow for the refresh rate?)", ErrCorruptFrame, maxAttempts)
}

// waitReady polls the status register until the new-data bit is set and
// returns the status.
func (d *Dev) waitReady(ctx context.Context, tmo time.Duration) (uint16, error) {
	start := d.clk.Now()
	if !d.lastReady.IsZero() {
		// The next subpage is due one period after the last one: sleep
		// through 80% of it, then poll.
		if idle := d.lastReady.Add(d.period * 4 / 5).Sub(start); idle > 0 {
			if err := d.clk.Sleep(ctx, idle); err != nil {
				return 0, fmt.Errorf("mlx90640: wait for data: %w", err)
			}
		}
	}
	for {
		if d.halted.Load() {
			return 0, errHalted
		}
		s, err := d.status()
		if err != nil {
			return 0, err
		}
		if s&statusNewData != 0 {
			d.lastReady = d.clk.Now()
			return s, nil
		}
		if d.clk.Now().Sub(start) >= tmo {
			d.c.timeouts.Add(1)
			return 0, fmt.Errorf("mlx90640: wait for data: %w after %v (refresh %s)", ErrTimeout, tmo, d.opts.RefreshRate)
		}
		if err := d.clk.Sleep(ctx, d.poll); err != nil {
			return 0, fmt.Errorf("mlx90640: wait for data: %w", err)
		}
	}
}

func (d *Dev) status() (uint16, error) {
	var s [1]uint16
	err := d.readWords("read status", StatusAddr, s[:])
	return s[0], err
}

// readWords reads len(out) big-endian words starting at addr, in chunks of
// at most ChunkWords words, each one write-then-read (repeated start).
func (d *Dev) readWords(op string, addr uint16, out []uint16) error {
	for off := 0; off < len(out); {
		n := min(len(out)-off, d.opts.ChunkWords)
		a := addr + uint16(off)
		d.w[0], d.w[1] = byte(a>>8), byte(a)
		buf := d.rbuf[:2*n]
		if err := d.bus.Tx(d.opts.Addr, d.w[:2], buf); err != nil {
			return d.busErr(op, a, err)
		}
		for i := range n {
			out[off+i] = uint16(buf[2*i])<<8 | uint16(buf[2*i+1])
		}
		off += n
	}
	return nil
}

func (d *Dev) writeWord(op string, addr, v uint16) error {
	d.w = [4]byte{byte(addr >> 8), byte(addr), byte(v >> 8), byte(v)}
	if err := d.bus.Tx(d.opts.Addr, d.w[:], nil); err != nil {
		return d.busErr(op, addr, err)
	}
	return nil
}

// busErr classifies a bus error, counts it and wraps it with a sentinel.
// periph's sysfs bus formats errno with %v, so the text is checked too.
func (d *Dev) busErr(op string, addr uint16, err error) error {
	var kind error
	msg := strings.ToLower(err.Error())
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.ErrShortBuffer), strings.Contains(msg, "short read"):
		kind = ErrShortRead
		d.c.short.Add(1)
	case isNACKErrno(err), errors.Is(err, syscall.ENXIO),
		strings.Contains(msg, "remote i/o error"), strings.Contains(msg, "no such device or address"), strings.Contains(msg, "nack"):
		kind = ErrNACK
		d.c.nacks.Add(1)
	default:
		kind = ErrBus
		d.c.bus.Add(1)
	}
	return fmt.Errorf("mlx90640: %s at 0x%04X: %w: %w", op, addr, kind, err)
}

// NextFrame waits for the next subpage and merges it into f: To, Valid,
// Bad and Updated of that subpage's pixels, and Ta, Vdd, Time and Seq. Bad
// pixels (broken or outlier in the EEPROM) are interpolated from their
// neighbours and marked Bad; pixels whose value is not finite are marked
// not Valid. The other subpage's pixels keep their values and ages. f is
// the caller's; NextFrame does not allocate.
func (d *Dev) NextFrame(ctx context.Context, f *sensors.Frame) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.readSubpage(ctx, &d.raw); err != nil {
		return err
	}
	vdd, ta := d.p.Compute(&d.raw, d.opts.Emissivity, d.opts.ReflectedTemp, &d.to)
	pt, sp := d.raw.Pattern(), d.raw.Subpage()
	d.p.correctSubpage(&d.to, pt, sp)
	now := d.clk.Now()
	tbl := &d.p.fast.tbl[pt][sp]
	for i := range tbl {
		k := tbl[i].idx
		v := d.to[k]
		f.To[k] = v
		f.Valid[k] = !math.IsNaN(v) && !math.IsInf(v, 0)
		f.Bad[k] = d.p.fast.bad[k]
		f.Updated[k] = now
	}
	f.Ta, f.Vdd, f.Time = ta, vdd, now
	f.Seq++
	return nil
}
