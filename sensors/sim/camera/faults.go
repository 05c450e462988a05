package camera

import (
	"errors"
	"fmt"
	"time"
)

// Errors returned by Tx. Every error wraps exactly one of them.
var (
	// ErrNACK: no device acknowledged the address (wrong address, camera
	// unplugged, injected NACK).
	// The text names the Linux errno too, as periph's sysfs bus reports it.
	ErrNACK = errors.New("i2c: NACK (remote I/O error)")
	// ErrTimeout: the transaction did not complete (injected bus timeout,
	// as the kernel reports a stuck clock stretch).
	ErrTimeout = errors.New("i2c: bus timeout (connection timed out)")
	// ErrAddress: the register address is not mapped (or a read runs past
	// the end of a region).
	ErrAddress = errors.New("unmapped register address")
	// ErrReadOnly: a write to the EEPROM or the RAM.
	ErrReadOnly = errors.New("register is read only")
	// ErrProtocol: a transaction the chip does not understand (a read with
	// no register address, an odd byte count, a multi-word write).
	ErrProtocol = errors.New("malformed transaction")
)

// DefaultTimeoutDelay is how long a transaction blocks under the Timeout
// fault: the 35 ms clock-stretch timeout of the Pi 4 i2c-bcm2835 driver.
const DefaultTimeoutDelay = 35 * time.Millisecond

// Faults are the failures the simulated camera injects. The zero value is a
// healthy camera. Set them in the config's camera section or at run time
// with Chip.SetFaults; every field takes effect at the next transaction.
type Faults struct {
	// NACK answers every transaction with ErrNACK while set.
	NACK bool `yaml:"nack"`
	// Timeout makes every transaction block for TimeoutDelay of the
	// chip's clock and then fail with ErrTimeout.
	Timeout bool `yaml:"timeout"`
	// TimeoutDelay defaults to DefaultTimeoutDelay when zero.
	TimeoutDelay time.Duration `yaml:"timeout_delay"`
	// StuckNewData never sets the new-data flag (status bit 3): the chip
	// keeps measuring into RAM but a driver that polls the flag waits
	// forever.
	StuckNewData bool `yaml:"stuck_new_data"`
	// CorruptFrames fills the pixel words of every measured subpage with
	// 0x7FFF, the pattern the Melexis ValidateFrameData rejects.
	CorruptFrames bool `yaml:"corrupt_frames"`
	// Unplugged answers every transaction with ErrNACK. Clearing it is a
	// power-on reset: control register from EEPROM, status 0, RAM zeros.
	Unplugged bool `yaml:"unplugged"`
	// NACKProbability is the chance, 0..1, that a transaction fails with a
	// transient ErrNACK, drawn from a generator seeded with Seed.
	NACKProbability float64 `yaml:"nack_probability"`
	// Seed seeds the transient NACK draws (re-seeded whenever Seed changes).
	Seed uint64 `yaml:"seed"`
}

// Validate checks the ranges.
func (f *Faults) Validate() error {
	if !(f.NACKProbability >= 0 && f.NACKProbability <= 1) {
		return fmt.Errorf("camera: faults: nack_probability %g is outside 0..1", f.NACKProbability)
	}
	if f.TimeoutDelay < 0 || f.TimeoutDelay > time.Minute {
		return fmt.Errorf("camera: faults: timeout_delay %v is outside 0..1m", f.TimeoutDelay)
	}
	return nil
}

func (f *Faults) timeoutDelay() time.Duration {
	if f.TimeoutDelay == 0 {
		return DefaultTimeoutDelay
	}
	return f.TimeoutDelay
}

// Fault kinds, as the config's sensors.sim.faults[].kind names them.
const (
	KindNACK         = "i2c_nack"         // Faults.NACK
	KindTimeout      = "i2c_timeout"      // Faults.Timeout
	KindFlaky        = "i2c_flaky"        // Faults.NACKProbability = FlakyProbability
	KindStuckNewData = "stuck_new_data"   // Faults.StuckNewData
	KindCorrupt      = "corrupt_frames"   // Faults.CorruptFrames
	KindUnplugged    = "camera_unplugged" // Faults.Unplugged
)

// FlakyProbability is the transient NACK rate of the i2c_flaky kind.
const FlakyProbability = 0.02

// ErrKind is wrapped when a fault kind is not one of the camera's.
var ErrKind = errors.New("not a camera fault kind")

// Kinds lists the fault kinds Set understands.
func Kinds() []string {
	return []string{KindNACK, KindTimeout, KindFlaky, KindStuckNewData, KindCorrupt, KindUnplugged}
}

// Set switches the fault named kind on or off, for a scheduler that reads
// the config's fault list:
//
//	err := chip.UpdateFaults(func(f *camera.Faults) { err = f.Set(kind, true) })
func (f *Faults) Set(kind string, on bool) error {
	switch kind {
	case KindNACK:
		f.NACK = on
	case KindTimeout:
		f.Timeout = on
	case KindFlaky:
		f.NACKProbability = 0
		if on {
			f.NACKProbability = FlakyProbability
		}
	case KindStuckNewData:
		f.StuckNewData = on
	case KindCorrupt:
		f.CorruptFrames = on
	case KindUnplugged:
		f.Unplugged = on
	default:
		return fmt.Errorf("camera: %w: %q (want one of %v)", ErrKind, kind, Kinds())
	}
	return nil
}
