package camera

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"

	"github.com/stirling-iot/stirling/internal/clock"
	"github.com/stirling-iot/stirling/sensors"
	"github.com/stirling-iot/stirling/sensors/mlx90640"
)

// Register map.
const (
	RegStatus    = 0x8000 // status register
	RegControl   = 0x800D // control register 1
	RegI2CConfig = 0x800F // I2C configuration register
	RAMStart     = 0x0400 // first pixel word; 832 words to 0x073F
	EEPROMStart  = 0x2400 // first EEPROM word; 832 words to 0x273F

	ramWords = 832

	// StatusSubpage is the mask of the last measured subpage.
	StatusSubpage = 0x0007
	// StatusNewData is set when a subpage completes.
	StatusNewData = 0x0008
	// StatusOverwrite enables overwriting unread data.
	StatusOverwrite = 0x0010
	// StatusStart starts a measurement in step mode.
	StatusStart = 0x0020

	// EEPROM words copied into the registers at power-on.
	eeControl   = 0x0C
	eeI2CConfig = 0x0E
	eeAddress   = 0x0F

	ctrlSubpageMode = 0x0001
	ctrlRepeat      = 0x0004
	ctrlChess       = 0x1000
)

// DefaultAddr is the MLX90640's factory I2C address.
const DefaultAddr = 0x33

// MaxSpeed is the fastest bus the MLX90640 supports (I2C Fast mode Plus).
const MaxSpeed = physic.MegaHertz

// Opts configures a Chip. Start from DefaultOpts.
type Opts struct {
	// Clock drives the measurements; nil is the wall clock.
	Clock clock.Clock
	// Logger receives fault changes and power-on resets; nil discards.
	Logger *slog.Logger
	// EEPROM is the calibration the chip carries; nil is DeviceB. Its word
	// 0x240C is the power-on control register, the low byte of 0x240F the
	// I2C address.
	EEPROM *[832]uint16
	// Temps reports the engine's temperatures at a time; nil is a constant
	// DefaultTemps. It is called with the chip locked, once per measured
	// subpage, and must not call back into the Chip.
	Temps func(t time.Time) Temps
	// Layout places the objects in the image.
	Layout Layout
	// Noise is the temperature noise, deg C RMS, at a 1 Hz refresh rate; it
	// grows with the square root of the rate as on the real sensor
	// (datasheet NETD 0.1 K at 1 Hz). 0 disables noise.
	Noise float64
	// Seed seeds the noise.
	Seed uint64
	// Emissivity and ReflectedTemp must match what the driver decodes
	// with: the chip produces the words that a driver using them decodes
	// back to the scene. ReflectedTemp is deg C; NaN is the Melexis default
	// Ta - 8 (mlx90640.TaShift), which the driver uses by default too.
	Emissivity    float64
	ReflectedTemp float64
	// DieOffset is how much warmer than Ambient the sensor die runs (the
	// Ta the driver reads back).
	DieOffset float64
	// Vdd is the supply voltage the chip reports, V.
	Vdd float64
	// Faults are the faults active from the start.
	Faults Faults
}

// DefaultOpts is a healthy camera with the device B calibration, the
// default layout and scene, 0.1 deg C noise at 1 Hz, the driver's default
// emissivity 0.95 and reflected temperature Ta-8, a die 4 deg C above
// ambient and a 3.3 V supply.
func DefaultOpts() Opts {
	return Opts{
		Layout:        DefaultLayout(),
		Noise:         0.1,
		Seed:          1,
		Emissivity:    0.95,
		ReflectedTemp: math.NaN(),
		DieOffset:     4,
		Vdd:           3.3,
	}
}

// Chip is a simulated MLX90640 and the I2C bus it sits on. It is safe for
// concurrent use.
type Chip struct {
	clk    clock.Clock
	log    *slog.Logger
	temps  func(time.Time) Temps
	layout Layout
	w      *weights
	noise  float64
	emis   float64
	tr     float64
	die    float64
	vdd    float64
	ee     [eeWords]uint16
	addr   uint16
	synth  synthesizer
	n      counters

	mu      sync.Mutex
	faults  Faults
	frng    *rand.Rand // transient NACK draws
	nrng    *rand.Rand // noise
	ram     [ramWords]uint16
	truth   [sensors.Pixels]float64 // the temperatures behind the pixel words in ram
	scene   [sensors.Pixels]float64 // scratch: the rendered scene
	frame   mlx90640.RawFrame       // scratch: synthesised words
	status  uint16
	ctrl    uint16
	i2cConf uint16
	speed   physic.Frequency
	sub     int       // next subpage in alternation
	next    time.Time // end of the measurement in progress
	period  time.Duration
	last    time.Time // end of the last measurement written to RAM
}

var _ i2c.BusCloser = (*Chip)(nil)

// New powers up a simulated camera. A nil opts is DefaultOpts.
func New(opts *Opts) (*Chip, error) {
	if opts == nil {
		d := DefaultOpts()
		opts = &d
	}
	if err := opts.Layout.Validate(); err != nil {
		return nil, err
	}
	if err := opts.Faults.Validate(); err != nil {
		return nil, err
	}
	switch {
	case !(opts.Emissivity > 0 && opts.Emissivity <= 1):
		return nil, fmt.Errorf("camera: emissivity %g is outside (0, 1]", opts.Emissivity)
	case !(opts.Noise >= 0 && opts.Noise <= 10):
		return nil, fmt.Errorf("camera: noise %g is outside 0..10 deg C", opts.Noise)
	case !(opts.Vdd >= 2.5 && opts.Vdd <= 3.6):
		return nil, fmt.Errorf("camera: vdd %g is outside 2.5..3.6 V", opts.Vdd)
	case math.IsNaN(opts.DieOffset) || math.IsInf(opts.DieOffset, 0) || math.IsInf(opts.ReflectedTemp, 0):
		return nil, errors.New("camera: die_offset and reflected_temp must be finite")
	}
	c := &Chip{
		clk:    opts.Clock,
		log:    opts.Logger,
		temps:  opts.Temps,
		layout: opts.Layout,
		w:      opts.Layout.weights(),
		noise:  opts.Noise,
		emis:   opts.Emissivity,
		tr:     opts.ReflectedTemp,
		die:    opts.DieOffset,
		vdd:    opts.Vdd,
		faults: opts.Faults,
		nrng:   rand.New(rand.NewPCG(opts.Seed, 0x6d6c7839)),
		frng:   rand.New(rand.NewPCG(opts.Faults.Seed, 0x6e61636b)),
		speed:  400 * physic.KiloHertz,
	}
	if c.clk == nil {
		c.clk = clock.Real{}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.log.With("component", "sim-camera")
	if c.temps == nil {
		d := DefaultTemps()
		c.temps = func(time.Time) Temps { return d }
	}
	if opts.EEPROM != nil {
		c.ee = *opts.EEPROM
	} else {
		ee, err := DeviceB()
		if err != nil {
			return nil, err
		}
		c.ee = *ee
	}
	c.addr = c.ee[eeAddress] & 0x7F
	if c.addr == 0 || c.addr == 0x7F {
		c.addr = DefaultAddr
	}
	s, err := newSynthesizer(&c.ee)
	if err != nil {
		return nil, fmt.Errorf("camera: eeprom: %w", err)
	}
	c.synth = s
	c.mu.Lock()
	c.powerOn(c.clk.Now())
	c.mu.Unlock()
	return c, nil
}

// String names the bus.
func (c *Chip) String() string { return fmt.Sprintf("sim-mlx90640@%#02x", c.addr) }

// Addr is the chip's I2C address.
func (c *Chip) Addr() uint16 { return c.addr }

// Layout is the scene layout the chip renders; Layout().ROIs() are the
// regions a perfectly calibrated agent would use.
func (c *Chip) Layout() Layout { return c.layout }

// Close does nothing; it makes the Chip an i2c.BusCloser.
func (c *Chip) Close() error { return nil }

// SetSpeed records the bus speed. The MLX90640 runs up to 1 MHz.
func (c *Chip) SetSpeed(f physic.Frequency) error {
	if f <= 0 || f > MaxSpeed {
		return fmt.Errorf("camera: bus speed %s is outside (0, %s]", f, MaxSpeed)
	}
	c.mu.Lock()
	c.speed = f
	c.mu.Unlock()
	return nil
}

// Stats returns the counters.
func (c *Chip) Stats() Stats { return c.n.snapshot() }

// Faults returns the active faults.
func (c *Chip) Faults() Faults {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.faults
}

// SetFaults replaces the active faults. Clearing Unplugged is a power-on
// reset of the chip.
func (c *Chip) SetFaults(f Faults) error {
	return c.UpdateFaults(func(old *Faults) { *old = f })
}

// UpdateFaults changes the active faults in place, atomically with respect
// to other updates and to transactions:
//
//	chip.UpdateFaults(func(f *camera.Faults) { f.Unplugged = true })
func (c *Chip) UpdateFaults(update func(*Faults)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.faults
	update(&f)
	if err := f.Validate(); err != nil {
		return err
	}
	old := c.faults
	c.faults = f
	if f.Seed != old.Seed {
		c.frng = rand.New(rand.NewPCG(f.Seed, 0x6e61636b))
	}
	if f != old {
		c.log.Info("faults changed", "nack", f.NACK, "timeout", f.Timeout, "stuck_new_data", f.StuckNewData,
			"corrupt_frames", f.CorruptFrames, "unplugged", f.Unplugged, "nack_probability", f.NACKProbability)
	}
	if old.Unplugged && !f.Unplugged {
		c.powerOn(c.clk.Now())
	}
	return nil
}

// Scene copies into dst the temperatures (deg C, with noise) behind the
// pixel words now in RAM, and returns the time their subpage completed:
// what a perfect driver would decode. Pixels not yet measured since
// power-on are NaN.
func (c *Chip) Scene(dst *[sensors.Pixels]float64) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	*dst = c.truth
	return c.last
}

// Tx is one I2C transaction: write w, then (repeated start) read r.
func (c *Chip) Tx(addr uint16, w, r []byte) error {
	c.n.transactions.Add(1)
	c.mu.Lock()
	now := c.clk.Now()
	f := c.faults
	if !f.Unplugged {
		c.advance(now)
	}
	err := c.inject(addr, &f, w)
	if err == nil {
		err = c.tx(now, w, r)
	}
	c.mu.Unlock()
	if errors.Is(err, ErrTimeout) {
		// The bus hangs; the chip keeps measuring meanwhile.
		_ = c.clk.Sleep(context.Background(), f.timeoutDelay())
	}
	return err
}

// inject returns the error of an active bus fault, if any.
func (c *Chip) inject(addr uint16, f *Faults, w []byte) error {
	reg := func() string {
		if len(w) < 2 {
			return "no register"
		}
		return fmt.Sprintf("register %#04x", uint16(w[0])<<8|uint16(w[1]))
	}
	switch {
	case addr != c.addr:
		c.n.nacks.Add(1)
		return fmt.Errorf("camera: no device at %#02x: %w", addr, ErrNACK)
	case f.Unplugged:
		c.n.nacks.Add(1)
		c.n.faults.Add(1)
		return fmt.Errorf("camera: %s: unplugged: %w", reg(), ErrNACK)
	case f.Timeout:
		c.n.timeouts.Add(1)
		c.n.faults.Add(1)
		return fmt.Errorf("camera: %s: %w", reg(), ErrTimeout)
	case f.NACK:
		c.n.nacks.Add(1)
		c.n.faults.Add(1)
		return fmt.Errorf("camera: %s: injected: %w", reg(), ErrNACK)
	case f.NACKProbability > 0 && c.frng.Float64() < f.NACKProbability:
		c.n.nacks.Add(1)
		c.n.faults.Add(1)
		return fmt.Errorf("camera: %s: transient: %w", reg(), ErrNACK)
	}
	return nil
}

// tx decodes a transaction addressed to the chip.
func (c *Chip) tx(now time.Time, w, r []byte) error {
	switch {
	case len(w) == 0 && len(r) == 0:
		return nil // address probe, as i2cdetect does
	case len(w) == 0:
		return fmt.Errorf("camera: read of %d bytes without a register address: %w", len(r), ErrProtocol)
	case len(w) == 2 && len(r) == 0:
		return nil // sets the address pointer only
	case len(w) == 2:
		return c.read(uint16(w[0])<<8|uint16(w[1]), r)
	case len(w) == 4 && len(r) == 0:
		return c.write(now, uint16(w[0])<<8|uint16(w[1]), uint16(w[2])<<8|uint16(w[3]))
	}
	return fmt.Errorf("camera: %d-byte write with a %d-byte read: %w", len(w), len(r), ErrProtocol)
}

func (c *Chip) read(a uint16, r []byte) error {
	if len(r)%2 != 0 {
		return fmt.Errorf("camera: register %#04x: odd read of %d bytes: %w", a, len(r), ErrProtocol)
	}
	for i := 0; i < len(r); i += 2 {
		reg := a + uint16(i/2)
		v, ok := c.word(reg)
		if !ok {
			return fmt.Errorf("camera: read %#04x: %w", reg, ErrAddress)
		}
		r[i], r[i+1] = byte(v>>8), byte(v)
	}
	c.n.reads.Add(uint64(len(r) / 2))
	return nil
}

func (c *Chip) word(a uint16) (uint16, bool) {
	switch {
	case a >= RAMStart && a < RAMStart+ramWords:
		return c.ram[a-RAMStart], true
	case a >= EEPROMStart && a < EEPROMStart+eeWords:
		return c.ee[a-EEPROMStart], true
	case a == RegStatus:
		return c.status, true
	case a == RegControl:
		return c.ctrl, true
	case a == RegI2CConfig:
		return c.i2cConf, true
	}
	return 0, false
}

func (c *Chip) write(now time.Time, a, v uint16) error {
	switch {
	case a == RegStatus:
		// Bits 2:0 are read only; bit 5 (step mode start) clears itself.
		c.status = c.status&StatusSubpage | v&(StatusNewData|StatusOverwrite)
	case a == RegControl:
		old := c.ctrl
		c.ctrl = v
		if p := refreshPeriod(v); p != refreshPeriod(old) {
			c.period = p
			c.next = now.Add(p)
		}
	case a == RegI2CConfig:
		c.i2cConf = v
	case a >= RAMStart && a < RAMStart+ramWords, a >= EEPROMStart && a < EEPROMStart+eeWords:
		return fmt.Errorf("camera: write %#04x: %w", a, ErrReadOnly)
	default:
		return fmt.Errorf("camera: write %#04x: %w", a, ErrAddress)
	}
	c.n.writes.Add(1)
	return nil
}

// refreshPeriod is the subpage period of a control word: 2 s >> code.
func refreshPeriod(ctrl uint16) time.Duration {
	return 2 * time.Second >> ((ctrl >> 7) & 7)
}

// RefreshRate is the subpage rate a control word selects.
func RefreshRate(ctrl uint16) physic.Frequency {
	return physic.PeriodToFrequency(refreshPeriod(ctrl))
}

// powerOn resets the chip as a power cycle does.
func (c *Chip) powerOn(now time.Time) {
	c.ctrl = c.ee[eeControl]
	c.i2cConf = c.ee[eeI2CConfig]
	c.status = 0
	c.ram = [ramWords]uint16{}
	for i := range c.truth {
		c.truth[i] = math.NaN()
	}
	c.sub = 0
	c.period = refreshPeriod(c.ctrl)
	c.next = now.Add(c.period)
	c.last = time.Time{}
	c.n.powerOns.Add(1)
	c.log.Info("power on", "control", fmt.Sprintf("%#04x", c.ctrl), "subpage_period", c.period)
}

// blocked reports whether a completed subpage would be discarded.
func (c *Chip) blocked() bool {
	return c.status&StatusNewData != 0 && c.status&StatusOverwrite == 0
}

// advance completes every measurement that ended by now. After a long gap
// only the last two subpages are rendered (the earlier ones would be
// overwritten anyway); all are counted.
func (c *Chip) advance(now time.Time) {
	for !now.Before(c.next) {
		due := uint64(now.Sub(c.next)/c.period) + 1
		if c.blocked() {
			c.n.subpages.Add(due)
			c.n.discarded.Add(due)
			c.skip(due)
			return
		}
		if due > 2 && (c.status&StatusOverwrite != 0 || c.faults.StuckNewData) {
			k := due - 2
			c.n.subpages.Add(k)
			switch {
			case c.faults.StuckNewData:
				c.n.stuckFlags.Add(k)
				c.n.faults.Add(k)
			case c.status&StatusNewData != 0:
				c.n.overwritten.Add(k)
			default:
				c.n.overwritten.Add(k - 1)
				c.status |= StatusNewData
			}
			if c.faults.CorruptFrames {
				c.n.corrupted.Add(k)
				c.n.faults.Add(k)
			}
			c.skip(k)
			continue
		}
		c.complete(c.next)
		c.skip(1)
	}
}

// skip moves the schedule k measurements on.
func (c *Chip) skip(k uint64) {
	c.next = c.next.Add(time.Duration(k) * c.period)
	c.sub = (c.sub + int(k%2)) % 2
}

// subpage is the subpage the measurement in progress covers.
func (c *Chip) subpage() int {
	switch {
	case c.ctrl&ctrlSubpageMode == 0:
		return 0
	case c.ctrl&ctrlRepeat != 0:
		return int(c.ctrl>>4) & 1
	}
	return c.sub
}

// complete finishes the measurement that ended at t.
func (c *Chip) complete(t time.Time) {
	c.n.subpages.Add(1)
	if c.blocked() {
		c.n.discarded.Add(1)
		return
	}
	if c.status&StatusNewData != 0 {
		c.n.overwritten.Add(1)
	}
	sp := c.subpage()
	temps := c.temps(t)
	c.w.render(temps, &c.scene)
	if c.noise > 0 {
		sigma := c.noise * math.Sqrt(float64(time.Second)/float64(c.period))
		for i := range c.scene {
			c.scene[i] += sigma * c.nrng.NormFloat64()
		}
	}
	ta := temps.Ambient + c.die
	chess := c.ctrl&ctrlChess != 0
	all := c.ctrl&ctrlSubpageMode == 0
	for s := range 2 {
		if !all && s != sp {
			continue
		}
		c.synth.Synthesize(s, c.ctrl, ta, c.vdd, c.emis, c.tr, &c.scene, &c.frame)
		for i := range sensors.Pixels {
			if !inSubpage(i, s, chess) {
				continue
			}
			c.ram[i] = c.frame[i]
			c.truth[i] = c.scene[i]
			if c.faults.CorruptFrames {
				c.ram[i] = 0x7FFF
			}
		}
	}
	copy(c.ram[sensors.Pixels:], c.frame[sensors.Pixels:ramWords])
	if c.faults.CorruptFrames {
		c.n.corrupted.Add(1)
		c.n.faults.Add(1)
	}
	c.status = c.status&^StatusSubpage | uint16(sp)
	if c.faults.StuckNewData {
		c.n.stuckFlags.Add(1)
		c.n.faults.Add(1)
	} else {
		c.status |= StatusNewData
	}
	c.last = t
}

// inSubpage reports whether pixel i is measured in subpage sp: chess
// pattern ((row ^ col) & 1) == sp, interleaved (row & 1) == sp.
func inSubpage(i, sp int, chess bool) bool {
	row, col := i/sensors.Width, i%sensors.Width
	if chess {
		return (row^col)&1 == sp
	}
	return row&1 == sp
}
