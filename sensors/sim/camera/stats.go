package camera

import "sync/atomic"

// Stats are the chip's counters since New. All counts are monotonic.
type Stats struct {
	// Transactions is every Tx call, failed or not.
	Transactions uint64
	// Reads is the 16-bit words read by the host.
	Reads uint64
	// Writes is the register writes that succeeded.
	Writes uint64
	// Subpages is the subpage measurements completed (including the
	// discarded ones and those skipped over when the chip caught up after
	// a long gap between transactions).
	Subpages uint64
	// Overwritten is the completed subpages that replaced data the host had
	// not read (new-data flag still set, overwrite enabled).
	Overwritten uint64
	// Discarded is the completed subpages thrown away because the host had
	// not read the previous one and overwrite was disabled.
	Discarded uint64
	// NACKs is the transactions answered with ErrNACK for any reason:
	// wrong address, unplugged, injected or transient.
	NACKs uint64
	// Faults is the fault injections: injected NACKs (including unplugged
	// and transient ones), timeouts, subpages measured with the new-data
	// flag stuck and corrupted subpages.
	Faults uint64
	// Timeouts is the transactions failed with ErrTimeout.
	Timeouts uint64
	// StuckFlags is the subpages completed without setting the flag.
	StuckFlags uint64
	// Corrupted is the subpages written with 0x7FFF pixels.
	Corrupted uint64
	// PowerOns is the power-on resets: 1 at New plus one per replug.
	PowerOns uint64
}

// counters holds the atomics behind Stats.
type counters struct {
	transactions, reads, writes                    atomic.Uint64
	subpages, overwritten, discarded               atomic.Uint64
	nacks, faults, timeouts, stuckFlags, corrupted atomic.Uint64
	powerOns                                       atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Transactions: c.transactions.Load(),
		Reads:        c.reads.Load(),
		Writes:       c.writes.Load(),
		Subpages:     c.subpages.Load(),
		Overwritten:  c.overwritten.Load(),
		Discarded:    c.discarded.Load(),
		NACKs:        c.nacks.Load(),
		Faults:       c.faults.Load(),
		Timeouts:     c.timeouts.Load(),
		StuckFlags:   c.stuckFlags.Load(),
		Corrupted:    c.corrupted.Load(),
		PowerOns:     c.powerOns.Load(),
	}
}
