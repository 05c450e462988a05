package pipeline

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// sample is one value entering validation.
type sample struct {
	id metricID
	t  int64 // sensor time, Unix nanoseconds
	v  float64
	q  Quality
}

// accum accumulates one metric over one window. Non-BAD and BAD inputs are
// kept apart so a window's numbers come from the trustworthy inputs when
// there are any.
type accum struct {
	n     uint32  // all inputs
	good  uint32  // non-BAD inputs
	sum   float64 // over the inputs the numbers come from (see use)
	min   float64
	max   float64
	last  float64
	worst Quality
}

func (a *accum) add(v float64, q Quality) {
	a.n++
	if q != Bad {
		if a.good == 0 { // first trustworthy input replaces any BAD numbers
			a.sum, a.min, a.max = 0, v, v
		}
		a.good++
	} else if a.good > 0 {
		a.worst = Bad
		return // keep the numbers from the trustworthy inputs
	} else if a.n == 1 {
		a.min, a.max = v, v
	}
	a.sum += v
	a.min = math.Min(a.min, v)
	a.max = math.Max(a.max, v)
	a.last = v
	a.worst = max(a.worst, q)
}

// metricState is everything the pipeline keeps per metric.
type metricState struct {
	opts   MetricOpts
	hampel hampel
	ema    float64
	emaOK  bool
	acc    [2]accum // windows W0 and W1
	// deadband: the last aggregate sent
	sentMean float64
	sentQ    Quality
	sentT    int64
	sent     bool
}

// counters are the pipeline's statistics; written by the Run goroutine,
// read by Stats.
type counters struct {
	frames, speeds   atomic.Uint64
	in, out          atomic.Uint64
	nan              atomic.Uint64
	outOfRange       [numMetrics]atomic.Uint64
	spikes           [numMetrics]atomic.Uint64
	deadband         atomic.Uint64
	late             atomic.Uint64
	timeJumps        atomic.Uint64
	untimed          atomic.Uint64
	windows          atomic.Uint64
	batches          atomic.Uint64
	batchesDropped   atomic.Uint64
	readingsDropped  atomic.Uint64
	stateChanges     atomic.Uint64
	state            atomic.Uint32
	framesQueueFull  atomic.Uint64
	roiBad           [3]atomic.Uint64
	pendingBatches   atomic.Int64
	lastWindowClosed atomic.Int64
}

// core is the single-threaded heart: validate -> filter -> aggregate ->
// deadband -> batch. Run drives it; benchmarks drive it directly.
type core struct {
	o        Opts
	window   int64
	grace    int64
	hb       int64
	jumpBack int64 // a sample this far before the open window is a clock step
	maxBytes int
	m        [numMetrics]metricState
	winStart int64 // start of W0; 0 when no window is open
	c        *counters

	// batching
	cur      *Batch
	curBytes int
	curSince time.Time // clock time the open batch got its first reading
	now      func() time.Time
	emit     func(*Batch)

	// engine
	eng engine

	latestMu sync.Mutex
	latest   [numMetrics]Reading
	hasLast  [numMetrics]bool
}

func newCore(o Opts, c *counters, now func() time.Time, emit func(*Batch)) *core {
	k := &core{
		o: o, window: int64(o.Window), grace: int64(o.WindowGrace), hb: int64(o.Heartbeat),
		maxBytes: o.Batch.MaxBytes, c: c, now: now, emit: emit,
		jumpBack: max(10*int64(o.Window), int64(10*time.Second)),
	}
	for i := range k.m {
		d := &metricDefs[i]
		mo, ok := o.Metrics[d.name]
		if !ok {
			mo = MetricOpts{Min: d.min, Max: d.max}
		}
		k.m[i].opts = mo
	}
	k.eng.o = o.Engine
	return k
}

// add runs one sample through validation, filters and the window.
func (k *core) add(s sample) {
	k.c.in.Add(1)
	ms := &k.m[s.id]
	switch {
	case math.IsNaN(s.v) || math.IsInf(s.v, 0):
		k.c.nan.Add(1)
		s.v, s.q = 0, Bad
	case s.v < ms.opts.Min || s.v > ms.opts.Max:
		k.c.outOfRange[s.id].Add(1)
		s.q = Bad
	}
	if metricDefs[s.id].filter && s.q != Bad {
		if k.o.Hampel.Window > 0 && ms.hampel.spike(s.v, &k.o.Hampel) {
			k.c.spikes[s.id].Add(1)
			return
		}
		if a := k.o.EMAAlpha; a > 0 {
			if !ms.emaOK {
				ms.ema, ms.emaOK = s.v, true
			} else {
				ms.ema += a * (s.v - ms.ema)
			}
			s.v = ms.ema
		}
	}
	k.aggregate(s)
}

func (k *core) aggregate(s sample) {
	ws := s.t - mod(s.t, k.window)
	if k.winStart == 0 {
		k.winStart = ws
	}
	for ws > k.winStart+k.window || (ws == k.winStart+k.window && s.t >= ws+k.grace) {
		if !k.closeW0() {
			k.winStart = ws // nothing open: jump
		}
	}
	if k.winStart != 0 && s.t < k.winStart-k.jumpBack {
		// The sensor clock stepped back (NTP on a Pi without an RTC):
		// start over rather than send every sample alone until it
		// catches up.
		k.c.timeJumps.Add(1)
		k.closeAll()
		k.winStart = ws
	}
	if ws < k.winStart {
		// The window closed already: send the sample on its own, with
		// its own time, rather than drop it or misdate it.
		k.c.late.Add(1)
		ms := &k.m[s.id]
		var a accum
		a.add(s.v, s.q)
		k.report(s.id, ms, &a, s.t, false)
		return
	}
	k.m[s.id].acc[(ws-k.winStart)/k.window].add(s.v, s.q)
}

func mod(a, b int64) int64 {
	r := a % b
	if r < 0 {
		r += b
	}
	return r
}

// closeW0 closes the oldest open window, hands it on as its own batch and
// shifts W1 into its place. It returns false when no window is open
// afterwards.
func (k *core) closeW0() bool {
	start := k.winStart
	any1 := false
	for id := range k.m {
		ms := &k.m[id]
		if ms.acc[0].n > 0 {
			k.report(metricID(id), ms, &ms.acc[0], start, true)
		}
		ms.acc[0] = ms.acc[1]
		ms.acc[1] = accum{}
		any1 = any1 || ms.acc[0].n > 0
	}
	k.c.windows.Add(1)
	k.c.lastWindowClosed.Store(start)
	k.engineHeartbeat(start + k.window)
	// A closed window goes to the spool at once, as its own record (with
	// any late samples that waited for it): waiting for MaxLatency would
	// put the next window into the same batch, and keep this one in
	// memory, where a crash loses it. Publishers merge records that wait.
	k.flush()
	k.winStart += k.window
	if !any1 {
		k.winStart = 0
		return false
	}
	return true
}

// tick closes the windows whose end plus grace has passed at clock time
// now, and flushes a batch of late samples that waited MaxLatency.
func (k *core) tick(now time.Time) {
	n := now.UnixNano()
	for k.winStart != 0 && n >= k.winStart+k.window+k.grace {
		k.closeW0()
	}
	if k.cur != nil && !now.Before(k.curSince.Add(k.o.Batch.MaxLatency)) {
		k.flush()
	}
}

// deadline is the next clock time tick has work to do, or zero.
func (k *core) deadline() time.Time {
	var d time.Time
	if k.winStart != 0 {
		d = time.Unix(0, k.winStart+k.window+k.grace)
	}
	if k.cur != nil {
		if b := k.curSince.Add(k.o.Batch.MaxLatency); d.IsZero() || b.Before(d) {
			d = b
		}
	}
	return d
}

// closeAll closes every open window (shutdown).
func (k *core) closeAll() {
	for k.winStart != 0 {
		k.closeW0()
	}
}

// report turns an accumulator into a reading, applies the deadband and
// queues it.
func (k *core) report(id metricID, ms *metricState, a *accum, t int64, windowed bool) {
	cnt := a.n
	if a.good > 0 {
		cnt = a.good
	}
	r := Reading{
		Metric:  metricDefs[id].name,
		Unit:    metricDefs[id].unit,
		Time:    time.Unix(0, t).UTC(),
		Value:   a.sum / float64(cnt),
		Quality: a.worst,
		Min:     a.min,
		Max:     a.max,
		Last:    a.last,
		Count:   a.n,
	}
	k.latestMu.Lock()
	if !k.hasLast[id] || !r.Time.Before(k.latest[id].Time) {
		k.latest[id], k.hasLast[id] = r, true
	}
	k.latestMu.Unlock()
	if windowed && ms.opts.Deadband > 0 && ms.sent && r.Quality == ms.sentQ &&
		math.Abs(r.Value-ms.sentMean) <= ms.opts.Deadband && t-ms.sentT < k.hb {
		k.c.deadband.Add(1)
		return
	}
	ms.sent, ms.sentMean, ms.sentQ, ms.sentT = true, r.Value, r.Quality, t
	k.put(&r)
}

// batchOverhead is the estimated JSON size of a batch without readings.
const batchOverhead = 64

// estimate is the JSON size estimate of one reading: the fixed fields
// (seq, time, value, quality, batch, min/max/last/count with 17-digit
// floats, keys and punctuation: about 250 bytes at worst) plus the
// strings.
func estimate(r *Reading) int {
	return 256 + len(r.Metric) + len(r.Unit) + len(r.Text)
}

// put appends r to the open batch, flushing first when it would overflow.
func (k *core) put(r *Reading) {
	sz := estimate(r)
	if k.cur != nil && (len(k.cur.Readings) >= k.o.Batch.MaxReadings || k.curBytes+sz > k.maxBytes) {
		k.flush()
	}
	if k.cur == nil {
		// No more readings fit than the size limit allows.
		n := min(k.o.Batch.MaxReadings, (k.maxBytes-batchOverhead)/estimate(&Reading{})+1)
		k.cur = &Batch{Readings: make([]Reading, 0, n)}
		k.curBytes = batchOverhead
		k.curSince = k.now()
	}
	k.cur.Readings = append(k.cur.Readings, *r)
	k.curBytes += sz
	k.c.out.Add(1)
}

// flush hands the open batch on.
func (k *core) flush() {
	if k.cur == nil {
		return
	}
	b := k.cur
	k.cur = nil
	k.c.batches.Add(1)
	k.emit(b)
}

// Latest returns the latest reading of every metric that has one.
func (k *core) latestReadings() []Reading {
	k.latestMu.Lock()
	defer k.latestMu.Unlock()
	var out []Reading
	for i := range k.latest {
		if k.hasLast[i] {
			out = append(out, k.latest[i])
		}
	}
	return out
}
