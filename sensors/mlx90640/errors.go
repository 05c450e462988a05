package mlx90640

import "errors"

// Errors of the device I/O. Every error Dev returns wraps one of these (or a
// context error), so callers can count and react without parsing text.
var (
	// ErrTimeout: no new subpage within the timeout derived from the refresh rate.
	ErrTimeout = errors.New("timeout waiting for data")
	// ErrNACK: the chip did not acknowledge (absent, wrong address, powered down).
	ErrNACK = errors.New("i2c NACK")
	// ErrBus: any other error reported by the I2C bus.
	ErrBus = errors.New("i2c bus error")
	// ErrShortRead: the bus transferred fewer bytes than asked.
	ErrShortRead = errors.New("short read")
	// ErrCorruptFrame: the frame holds 0x7FFF markers (not measured) or an
	// impossible subpage number, or kept changing subpage while being read.
	ErrCorruptFrame = errors.New("corrupt frame")
	// ErrVerify: a register did not hold the value written to it.
	ErrVerify = errors.New("register write not verified")
)
