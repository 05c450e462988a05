package tachometer

import (
	"math"
	"time"

	"github.com/stirling-iot/stirling/sensors"
)

// mark is a mark's leading edge that passed the pulse-width filter.
type mark struct {
	mono    time.Duration
	wall    time.Time
	precise bool
}

func markOf(e sensors.Edge) mark { return mark{mono: e.Mono, wall: e.Wall, precise: e.Precise} }

// Outlier limits, as ratios of a period to the reference period (median of
// the last three accepted). A missed mark doubles a period, an extra one
// splits it; a real Stirling flywheel changes far less from one revolution
// to the next once it turns steadily.
const (
	shortRatio = 0.6
	longRatio  = 1.6
	lockSpread = 0.25 // the last three periods within +-25% of their median: locked
	relockN    = 3    // consecutive outliers that mean the speed really changed
	// A long period within missedTol of a whole multiple of the reference
	// is missed marks. relockMissed of those in a row (each with a single
	// good mark between) are more likely a real slowdown.
	missedTol    = 0.2
	relockMissed = 4
)

// filter is the tachometer's state machine: pulse-width filter, lock-out,
// outlier test, averaging and stall detection. It is driven by one
// goroutine (Tach.Run) and by tests directly.
type filter struct {
	t          *Tach
	markRising bool
	markOnly   bool
	glitchMin  time.Duration
	lockout    time.Duration
	maxPeriod  time.Duration
	window     time.Duration
	average    int
	stallMin   time.Duration
	idle       time.Duration
	marks      float64 // marks per revolution

	// sequence numbers
	lastSeq uint64

	// pulse-width filter: a mark edge is pending until the line has stayed
	// in the mark state for glitchMin. A burst of short pulses keeps the
	// time of its first edge.
	pend      bool
	pendMark  mark
	pendLast  time.Duration
	burst     bool
	burstMark mark
	burstLast time.Duration

	// marks and periods
	haveLast  bool
	broken    bool // the next mark starts a new chain (after a gap or stall)
	last      mark
	hist      [3]time.Duration // last accepted periods, newest at histN-1 (ring)
	histN     int
	histPos   int
	consec    int // consecutive outliers that are not missed marks
	missedRun int // consecutive missed-mark outliers
	chain     [maxAverage + 1]time.Duration
	chainPos  int // next write position
	chainN    int // marks in the chain

	// output
	running  bool
	lastRPM  float64
	lastP    time.Duration
	idleFrom time.Time // last time a zero was produced (or Run started)

	speeds chan<- sensors.Speed
	events chan<- Event
}

func newFilter(t *Tach, start time.Time, speeds chan<- sensors.Speed, events chan<- Event) *filter {
	o := t.o
	return &filter{
		t:          t,
		markRising: o.MarkEdge == Rising,
		markOnly:   t.markOnly,
		glitchMin:  o.GlitchMin,
		lockout:    lockout(o.MaxRPM, o.MarksPerRev),
		maxPeriod:  lockout(o.MinRPM, o.MarksPerRev),
		marks:      float64(o.MarksPerRev),
		window:     o.Window,
		average:    o.Average,
		stallMin:   o.StallTimeout,
		idle:       o.IdleInterval,
		idleFrom:   start,
		speeds:     speeds,
		events:     events,
	}
}

// edge feeds one edge from the source.
func (f *filter) edge(e sensors.Edge) {
	if e.Seq != 0 && f.lastSeq != 0 && e.Seq != f.lastSeq+1 && e.Seq > f.lastSeq {
		// Edges were lost (kernel FIFO overflow): whatever was pending is
		// unreliable and the next period may span lost marks.
		f.t.overflows.Add(1)
		f.t.lost.Add(e.Seq - f.lastSeq - 1)
		f.pend, f.burst = false, false
		f.broken = true
	}
	if e.Seq != 0 {
		f.lastSeq = e.Seq
	}
	isMark := e.Rising == f.markRising
	if f.markOnly {
		if isMark {
			f.mark(markOf(e))
		}
		return
	}
	if isMark {
		if f.pend {
			// Two mark edges in a row: the opposite edge was lost or the
			// source sees one polarity only. The pending one stands if the
			// line stayed long enough.
			if e.Mono-f.pendLast < f.glitchMin {
				f.t.glitches.Add(1)
				f.pendLast = e.Mono
				return
			}
			f.pend = false
			f.mark(f.pendMark)
		}
		m := markOf(e)
		if f.burst && e.Mono-f.burstLast < f.glitchMin {
			m = f.burstMark // chatter: the burst's first edge is the mark
		}
		f.pend, f.pendMark, f.pendLast = true, m, e.Mono
		return
	}
	// The line left the mark state.
	if f.pend {
		f.pend = false
		if e.Mono-f.pendLast < f.glitchMin {
			f.t.glitches.Add(1)
			f.burst, f.burstMark, f.burstLast = true, f.pendMark, e.Mono
			return
		}
		f.burst = false
		f.mark(f.pendMark)
		return
	}
	if f.burst && e.Mono-f.burstLast < f.glitchMin {
		f.burstLast = e.Mono
	}
}

// stallAfter is how long without a mark means stopped.
func (f *filter) stallAfter() time.Duration {
	return max(3*f.lastP, f.stallMin)
}

// mark handles a mark that passed the pulse-width filter.
func (f *filter) mark(m mark) {
	f.t.marks.Add(1)
	f.t.precise.Store(m.precise)
	if f.running && m.mono-f.last.mono > f.stallAfter() {
		f.stall()
	}
	if !f.haveLast || f.broken {
		f.restart(m)
		return
	}
	p := m.mono - f.last.mono
	switch {
	case p < f.lockout:
		f.t.glitches.Add(1)
		return
	case p > f.maxPeriod:
		f.restart(m)
		return
	}
	ref, locked := f.reference()
	if !locked && f.lastP > 0 {
		// Not locked (starting, or after a change of speed): the last
		// period is a weaker reference, good enough to spot missed marks.
		ref = f.lastP
	}
	if ref > 0 {
		r := float64(p) / float64(ref)
		if !locked && !(r > longRatio && math.Abs(r-math.Round(r)) <= missedTol) {
			r = 1 // only missed marks are judged without a lock
		}
		if r < shortRatio || r > longRatio {
			f.t.outliers.Add(1)
			// A whole number of periods is missed marks; anything else
			// counts towards deciding that the speed really changed.
			if r > longRatio && math.Abs(r-math.Round(r)) <= missedTol {
				f.missedRun++
			} else {
				f.consec++
			}
			if f.consec >= relockN || f.missedRun >= relockMissed {
				// The speed really changed; measure afresh.
				f.histN, f.consec, f.missedRun = 0, 0, 0
				f.restart(m)
				return
			}
			if r > longRatio {
				// A missed mark: this one is real, the period is not.
				f.restart(m)
			}
			// An extra mark is ignored: the chain continues from f.last.
			return
		}
	}
	f.consec, f.missedRun = 0, 0
	f.hist[f.histPos] = p
	f.histPos = (f.histPos + 1) % len(f.hist)
	f.histN = min(f.histN+1, len(f.hist))
	f.last = m
	f.pushChain(m.mono)
	f.lastP = p
	f.emitSpeed(m)
}

// restart begins a new chain of marks at m.
func (f *filter) restart(m mark) {
	f.haveLast, f.broken = true, false
	f.last = m
	f.chainN, f.chainPos = 0, 0
	f.pushChain(m.mono)
}

func (f *filter) pushChain(mono time.Duration) {
	f.chain[f.chainPos] = mono
	f.chainPos = (f.chainPos + 1) % len(f.chain)
	f.chainN = min(f.chainN+1, len(f.chain))
}

// reference is the median of the last three periods, if they agree.
func (f *filter) reference() (time.Duration, bool) {
	if f.histN < len(f.hist) {
		return 0, false
	}
	a, b, c := f.hist[0], f.hist[1], f.hist[2]
	med := max(min(a, b), min(max(a, b), c))
	lo, hi := min(a, b, c), max(a, b, c)
	if float64(hi) > float64(med)*(1+lockSpread) || float64(lo) < float64(med)*(1-lockSpread) {
		return 0, false
	}
	return med, true
}

// emitSpeed averages the chain ending at m: as many periods as Average and
// Window allow, at least one.
func (f *filter) emitSpeed(m mark) {
	newest := m.mono
	k := 0
	var span time.Duration
	for k < f.average && k+1 < f.chainN {
		i := (f.chainPos - 2 - k + 2*len(f.chain)) % len(f.chain)
		s := newest - f.chain[i]
		if k > 0 && s > f.window {
			break
		}
		k++
		span = s
	}
	rpm := 60e9 * float64(k) / float64(span) / f.marks
	f.lastRPM = rpm
	f.send(sensors.Speed{Time: m.wall, RPM: rpm, Precise: m.precise})
	if !f.running {
		f.running = true
		f.t.starts.Add(1)
		f.t.log.Debug("flywheel started", "rpm", rpm)
		f.event(Event{Time: m.wall, Kind: Start, RPM: rpm})
	}
}

// stall declares the flywheel stopped, at the moment it became certain.
func (f *filter) stall() {
	at := f.last.wall.Add(f.stallAfter())
	f.running = false
	f.broken = true
	f.t.stalls.Add(1)
	f.t.log.Debug("flywheel stalled", "last_rpm", f.lastRPM)
	f.send(sensors.Speed{Time: at, RPM: 0, Precise: f.last.precise})
	f.event(Event{Time: at, Kind: Stop, RPM: f.lastRPM})
	f.idleFrom = at
	f.lastP = 0
	f.histN, f.consec, f.missedRun = 0, 0, 0
}

// deadline is the next clock time tick has work to do.
func (f *filter) deadline() time.Time {
	var d time.Time
	if f.pend {
		d = f.pendMark.wall.Add(f.glitchMin)
	}
	var next time.Time
	switch {
	case f.running:
		next = f.last.wall.Add(f.stallAfter())
	case f.idle > 0:
		next = f.idleFrom.Add(f.idle)
	}
	if d.IsZero() || (!next.IsZero() && next.Before(d)) {
		d = next
	}
	return d
}

// tick runs the time-driven decisions at clock time now.
func (f *filter) tick(now time.Time) {
	if f.pend && !now.Before(f.pendMark.wall.Add(f.glitchMin)) {
		// The line has stayed in the mark state: the mark stands.
		f.pend, f.burst = false, false
		f.mark(f.pendMark)
	}
	if f.running && !now.Before(f.last.wall.Add(f.stallAfter())) {
		f.stall()
		return
	}
	if !f.running && f.idle > 0 {
		next := f.idleFrom.Add(f.idle)
		if now.Before(next) {
			return
		}
		// One zero per tick, at the latest idle step not after now.
		steps := now.Sub(f.idleFrom) / f.idle
		f.idleFrom = f.idleFrom.Add(steps * f.idle)
		f.send(sensors.Speed{Time: f.idleFrom, RPM: 0})
	}
}

func (f *filter) send(s sensors.Speed) {
	f.t.speeds.Add(1)
	f.t.rpm.Store(math.Float64bits(s.RPM))
	if f.speeds == nil {
		return
	}
	select {
	case f.speeds <- s:
	default:
		f.t.dropped.Add(1)
	}
}

func (f *filter) event(e Event) {
	if f.events == nil {
		return
	}
	select {
	case f.events <- e:
	default:
		f.t.dropped.Add(1)
	}
}
