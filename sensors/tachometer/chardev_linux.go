//go:build linux

package tachometer

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/host/v3/gpioioctl"
)

// OpenChardev requests the tachometer line from the GPIO character device
// with both edges, the bias from opts and an event FIFO of at least 64
// events, and returns a source that reads the kernel's timestamped events.
//
// Unless opts names a device path and a numeric offset, the chip and line
// are found through periph's gpioioctl discovery (driverreg.Init), which is
// the same discovery the rest of the agent uses; the line is only looked up
// there, never configured through periph. A nil opts means
// DefaultChardevOpts.
func OpenChardev(ctx context.Context, o *ChardevOpts) (*Chardev, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var opts ChardevOpts
	if o != nil {
		opts = *o
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Line == "" {
		opts.Line = "GPIO4"
	}
	if opts.Consumer == "" {
		opts.Consumer = "stirling"
	}
	switch {
	case opts.EventBuffer == 0:
		opts.EventBuffer = defaultEventBuffer
	case opts.EventBuffer < minEventBuffer || opts.EventBuffer > maxEventBuffer:
		return nil, fmt.Errorf("%w: event buffer %d (want %d..%d)", ErrOpts, opts.EventBuffer, minEventBuffer, maxEventBuffer)
	}
	path, offset, err := findLine(opts.Chip, opts.Line, log)
	if err != nil {
		return nil, err
	}
	chip, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("tachometer: open %s (is the user in group gpio?): %w", path, err)
	}
	defer chip.Close()
	req := newLineRequest(uint32(offset), opts.Consumer, opts.Bias, opts.EventBuffer)
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, chip.Fd(), uapiGetLineIoctl, uintptr(unsafe.Pointer(req))); errno != 0 {
		return nil, fmt.Errorf("tachometer: request line %d on %s: %w", offset, path, errno)
	}
	fd := int(req.Fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tachometer: line %d on %s: set nonblocking: %w", offset, path, err)
	}
	name := fmt.Sprintf("%s line %d", path, offset)
	// A non-blocking fd wrapped by os.NewFile goes to the runtime poller, so
	// reads honour deadlines and Close wakes them.
	f := os.NewFile(uintptr(fd), name)
	c := newChardev(name, f, f, opts.EventBuffer, monoNow, log)
	c.log.Info("gpio line requested", "bias", opts.Bias, "event_buffer", opts.EventBuffer, "precise", true)
	return c, nil
}

// monoNow samples the wall clock and CLOCK_MONOTONIC, the kernel's event
// clock, back to back.
func monoNow() (time.Time, time.Duration) {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	wall := time.Now()
	return wall, time.Duration(ts.Nano())
}

// findLine resolves chip and line to a device path and a line offset.
func findLine(chipSel, lineSel string, log *slog.Logger) (string, int, error) {
	num, numErr := strconv.Atoi(lineSel)
	if strings.HasPrefix(chipSel, "/dev/") && numErr == nil {
		return chipSel, num, nil
	}
	st, err := driverreg.Init()
	if err != nil {
		return "", 0, fmt.Errorf("tachometer: periph init: %w", err)
	}
	fixStdin(log)
	if st != nil {
		for _, f := range st.Failed {
			log.Warn("periph driver failed", "driver", f.D.String(), "err", f.Err)
		}
	}
	for _, c := range gpioioctl.Chips {
		if !chipMatches(c, chipSel) {
			continue
		}
		if numErr == nil {
			if num < 0 || num >= c.LineCount() {
				return "", 0, fmt.Errorf("%w: offset %d on %s (%d lines)", ErrNotFound, num, c.Path(), c.LineCount())
			}
			return c.Path(), num, nil
		}
		if l := c.ByName(lineSel); l != nil {
			return c.Path(), l.Number(), nil
		}
		if chipSel != "" {
			break
		}
	}
	if len(gpioioctl.Chips) == 0 {
		if strings.HasPrefix(chipSel, "gpiochip") && numErr == nil {
			// periph found nothing (e.g. its driver was skipped); try the node.
			log.Warn("periph found no gpio chip; opening the device directly", "chip", chipSel)
			return "/dev/" + chipSel, num, nil
		}
		return "", 0, fmt.Errorf("%w: no GPIO chip could be opened (is the user in group gpio?)", ErrNotFound)
	}
	return "", 0, fmt.Errorf("%w: chip %q line %q", ErrNotFound, chipSel, lineSel)
}

func chipMatches(c *gpioioctl.GPIOChip, sel string) bool {
	if sel == "" {
		return strings.HasPrefix(c.Label(), "pinctrl-")
	}
	return sel == c.Name() || sel == c.Path() || sel == c.Label()
}

// fixStdin works around periph host v3.8.5's GPIOChip.Close, which closes
// fd 0 when it drops a duplicate chip (the /dev/gpiochip4 symlink on
// Bookworm) and then treats fd 0 as "not open". If stdin is gone after
// discovery, /dev/null takes fd 0 so no GPIO or I2C fd can land there.
func fixStdin(log *slog.Logger) {
	if _, err := unix.FcntlInt(0, unix.F_GETFD, 0); err == nil {
		return
	}
	fd, err := unix.Open("/dev/null", unix.O_RDONLY, 0)
	if err != nil {
		log.Warn("stdin closed by periph and /dev/null unavailable", "err", err)
		return
	}
	if fd != 0 {
		// Someone else took fd 0 in between; it is in use, which is all we need.
		unix.Close(fd)
	}
	log.Warn("periph closed stdin during gpio discovery; fd 0 is now /dev/null")
}
