// Package mlx90640 drives the Melexis MLX90640 32x24 thermal camera over a
// periph i2c.Bus and implements the Melexis calibration algorithm in Go.
//
// The package has three layers:
//
//   - ExtractParameters turns the 832-word EEPROM dump (0x2400..0x273F) into
//     Params, exactly as the current (post-2019) Melexis library does,
//     including its re-quantised integer parameters, the broken/outlier
//     pixel lists and the status codes for bad-pixel conditions. It also
//     precomputes per-pixel constants so the per-frame work is small.
//   - Params.Compute turns one subpage (a RawFrame: 768 pixel words, 64 aux
//     words, the control register and the subpage number) into Vdd, Ta and
//     the object temperature of that subpage's pixels, with zero allocations.
//     Params.CorrectBadPixels interpolates broken and outlier pixels the way
//     Melexis does. Params.Synthesize is the inverse model, for simulators.
//   - Dev talks to the chip: it reads the EEPROM, programs the control
//     register, waits for each subpage, reads it in one repeated-start
//     transaction and merges subpages into a sensors.Frame.
//
// The conformance tests in this package run every vector in testdata/, which
// was produced by the official Melexis C library (see testdata/README.md).
//
// Datasheet facts used here: I2C address 0x33; RAM 0x0400..0x073F; EEPROM
// 0x2400 (832 words); status register 0x8000 (bit 3 new data, bit 0 subpage);
// control register 0x800D (bit 12 chess/interleaved, bits 11:10 ADC
// resolution 16..19 bit, bits 9:7 refresh rate 0.5..64 Hz per subpage).
package mlx90640
