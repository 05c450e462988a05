package publish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/stirling-iot/stirling/pipeline"
)

// Failure classes. Publishers wrap these in the errors they return so the
// runner (and the status page) can tell a problem the operator must fix
// from one that passes.
var (
	// ErrUnauthorized: the destination refused our identity or our
	// permission (an MQTT CONNACK "not authorized" or "bad user name or
	// password", an IPC UnauthorizedError, a SiteWise AccessDeniedException
	// for the whole request). It is not the readings' fault: they stay in
	// the spool and are retried, never quarantined.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrUnavailable: the destination cannot be reached (connection
	// refused, unreachable, TLS handshake failed, not running under
	// Greengrass). The readings stay in the spool.
	ErrUnavailable = errors.New("unavailable")
)

// Cause names err's failure class for a state such as "failing:
// unauthorized": "unauthorized", "unavailable", or "" for other errors.
func Cause(err error) string {
	switch {
	case errors.Is(err, ErrUnauthorized):
		return "unauthorized"
	case errors.Is(err, ErrUnavailable):
		return "unavailable"
	}
	return ""
}

// DefaultRemindEvery is how often FailureLog repeats that a failure goes
// on.
const DefaultRemindEvery = time.Minute

// FailureLog logs a run of repeated failures without flooding the log (on
// a Pi it goes to the SD card): the first failure and every change of its
// class at once, then at most one reminder per Every with the attempt count
// and the last cause, and one line when it recovers. It is safe for
// concurrent use.
type FailureLog struct {
	Log *slog.Logger
	// Every is the reminder interval (default DefaultRemindEvery); negative
	// means no reminders (when a publish.Runner already reminds with this
	// failure as its cause).
	Every time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time

	mu       sync.Mutex
	failing  bool
	class    string
	attempts int
	since    time.Time
	logged   time.Time
}

// Fail records one failed attempt. msg is logged at the first failure or
// when the class changes; remind when Every has passed since the last line.
func (f *FailureLog) Fail(msg, remind string, err error, attrs ...any) {
	now := f.now()
	class := Cause(err)
	f.mu.Lock()
	f.attempts++
	var log string
	switch {
	case !f.failing || class != f.class:
		if !f.failing {
			f.since = now
		}
		f.failing, f.class, f.logged = true, class, now
		log = msg
	case f.Every >= 0 && now.Sub(f.logged) >= f.every():
		f.logged = now
		log = remind
	}
	attempts, since := f.attempts, f.since
	f.mu.Unlock()
	if log == "" || f.Log == nil {
		return
	}
	a := append([]any{"attempts", attempts, "failing_for", now.Sub(since).Round(time.Second), "err", err}, attrs...)
	if class != "" {
		a = append(a, "cause", class)
	}
	f.Log.Warn(log, a...)
}

// Recovered ends a run of failures; msg is logged (at info) only if there
// was one. It returns the number of failed attempts.
func (f *FailureLog) Recovered(msg string, attrs ...any) int {
	now := f.now()
	f.mu.Lock()
	failing, attempts, since := f.failing, f.attempts, f.since
	f.failing, f.class, f.attempts = false, "", 0
	f.mu.Unlock()
	if failing && f.Log != nil {
		f.Log.Info(msg, append([]any{"failed_attempts", attempts, "failed_for", now.Sub(since).Round(time.Millisecond)}, attrs...)...)
	}
	return attempts
}

func (f *FailureLog) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

func (f *FailureLog) every() time.Duration {
	if f.Every > 0 {
		return f.Every
	}
	return DefaultRemindEvery
}

// Unavailable is a publisher that cannot work in this process (a greengrass
// publisher outside Greengrass). It stays configured so its readings wait
// in the spool and its state shows the reason; every Send fails with Err,
// which wraps ErrUnavailable.
type Unavailable struct {
	name string
	Err  error
}

// NewUnavailable returns an Unavailable publisher named name failing with
// why (wrapped with ErrUnavailable).
func NewUnavailable(name string, why error) *Unavailable {
	return &Unavailable{name: name, Err: fmt.Errorf("%w (%w)", why, ErrUnavailable)}
}

// Name implements Publisher.
func (u *Unavailable) Name() string { return u.name }

// Send implements Publisher: every reading stays Retry.
func (u *Unavailable) Send(context.Context, *pipeline.Batch, []Result) error { return u.Err }

// Close implements Publisher.
func (u *Unavailable) Close() error { return nil }

var _ Publisher = (*Unavailable)(nil)
