// Package camera simulates an MLX90640 thermal camera on an I2C bus.
//
// A Chip is a periph i2c.Bus with one device on it, at the address stored in
// its EEPROM (0x33 for every shipped EEPROM). It answers the transactions a
// driver sends to the real chip:
//
//   - reads: write the 16-bit big-endian register address, then read any
//     number of 16-bit big-endian words (a repeated start in periph's Tx);
//     the address auto-increments. Mapped: RAM 0x0400..0x073F (768 pixels,
//     64 auxiliary words), EEPROM 0x2400..0x273F (832 words), status 0x8000,
//     control 0x800D and I2C configuration 0x800F.
//   - writes: the 2 address bytes and 2 data bytes. Only the three registers
//     are writable; EEPROM and RAM writes fail with ErrReadOnly.
//   - any other device address is a NACK (ErrNACK), as is every transaction
//     while the camera is unplugged.
//
// # Measurement timing
//
// The chip measures one subpage at a time. The refresh rate in control bits
// 9:7 (codes 0..7 = 0.5, 1, 2, 4, 8, 16, 32, 64 Hz) is the subpage rate (a
// full image needs two subpages, as the Melexis and Adafruit drivers
// treat it): at the power-on 2 Hz a subpage completes every 500 ms and a
// full 32x24 image takes one second. Time comes from the injected clock.Clock, so a
// clock.Scaled runs the camera as fast as the clock; the chip has no
// goroutine and brings itself up to date at every transaction.
//
// When a subpage completes the chip renders the thermal scene at that
// instant (Layout and the Temps from Opts.Temps, plus noise), converts it to
// raw ADC words by inverting the calibration of its EEPROM (the inverse of
// the Melexis algorithm, in package mlx90640) for the control register in
// force (resolution bits 11:10, chess or interleaved pattern bit 12), writes
// the pixels of that subpage and the auxiliary words (Ta, Vdd, compensation
// pixels) into RAM, puts the subpage number in status bits 2:0 and sets the
// new-data flag, status bit 3.
//
// # Status register 0x8000
//
//   - bits 2:0, read only: the last measured subpage.
//   - bit 3: new data in RAM. Set when a subpage completes; cleared only by
//     the host, by writing the register with bit 3 clear (the Melexis
//     library writes 0x0030).
//   - bit 4: overwrite enable. While bit 3 is set, a completed subpage
//     replaces the unread data when bit 4 is 1 (Stats.Overwritten) and is
//     thrown away when bit 4 is 0 (Stats.Discarded): the RAM keeps the
//     unread subpage. The simulator powers on with 0 (a choice, not a
//     checked datasheet value); drivers enable it by writing 0x0030.
//   - bit 5: start of measurement (step mode). Accepted and ignored: the
//     simulator measures continuously.
//
// # Control register 0x800D
//
// Power-on value from EEPROM word 0x240C (0x1901 in the shipped EEPROM:
// subpage mode, 2 Hz, 18-bit ADC, chess pattern). Honoured: bit 0 subpage
// mode (0 = every measurement covers all pixels, reported as subpage 0),
// bit 2 subpage repeat with bits 6:4 selecting the subpage, bits 9:7 refresh
// rate, bits 11:10 ADC resolution, bit 12 reading pattern. Changing the
// refresh rate restarts the measurement in progress at the new rate. Bit 1
// (data hold) and step mode are not simulated.
//
// # Faults
//
// Faults (NACK, bus timeout, a stuck new-data flag, frames corrupted with
// 0x7FFF, an unplugged camera, random transient NACKs) come from the YAML
// config and can be switched at run time with SetFaults or UpdateFaults.
// Plugging the camera back in is a power-on reset: the control register
// returns to its EEPROM default, the status register to 0 and the RAM to
// zeros, so a driver must configure the chip again after a replug.
package camera
