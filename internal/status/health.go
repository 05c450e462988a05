package status

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// The names of the health checks. Each publisher has its own check,
// named CheckPublisherPrefix + its name.
const (
	CheckSensors         = "sensors"
	CheckSpool           = "spool"
	CheckPublisherPrefix = "publisher:"
)

// The overall states, from best to worst.
const (
	// StateOK: every check passes.
	StateOK = "ok"
	// StateDegraded: the agent collects and spools, but a publisher has
	// not delivered for longer than Opts.HealthMaxSilence while readings
	// wait (/healthz fails, /livez passes).
	StateDegraded = "degraded"
	// StateDown: the sensors or the spool stopped (/livez fails too).
	StateDown = "down"
)

// Check is one health check's verdict.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Reason string `json:"reason"` // why it passes or fails, for people
}

// Health is the verdict of /livez or /healthz: every check, and the worst
// state among them.
type Health struct {
	Status string `json:"status"` // StateOK, StateDegraded or StateDown
	OK     bool   `json:"ok"`     // Status == StateOK
	// Reason joins the reasons of the failing checks ("ok" when none).
	Reason string  `json:"reason"`
	Checks []Check `json:"checks"`
}

// live returns the checks /livez makes: the sensors produce, and the spool
// appends, within Opts.LiveWindow; an append that failed after the last
// one that worked fails the spool check at once.
func (s *Server) live(snap Snapshot, now time.Time) []Check {
	win := s.opts.LiveWindow
	sensors := Check{Name: CheckSensors, OK: true}
	last := later(snap.LastSensor, s.started)
	if quiet := now.Sub(last); quiet > win {
		sensors.OK = false
		sensors.Reason = fmt.Sprintf("no sensor data for %s (window %s; last %s)", round(quiet), win, fmtTime(snap.LastSensor))
	} else {
		sensors.Reason = fmt.Sprintf("sensor data %s ago", round(quiet))
	}

	sp := snap.Spool
	spool := Check{Name: CheckSpool, OK: true}
	if !sp.FailingSince.IsZero() || sp.LastErrorTime.After(snap.LastSpooled) {
		since := sp.FailingSince
		if since.IsZero() {
			since = sp.LastErrorTime
		}
		spool.OK = false
		spool.Reason = fmt.Sprintf("appends failing for %s: %s; %d readings lost in total (last appended %s)",
			round(now.Sub(since)), sp.LastError, sp.LostReadings, fmtTime(snap.LastSpooled))
	} else if ago := now.Sub(sp.LastErrorTime); !sp.LastErrorTime.IsZero() && ago <= win {
		// Appends work again, but on a disk that is nearly full one
		// may squeeze into a partly used block between failures: only a
		// whole window without a failure counts as recovered.
		spool.OK = false
		spool.Reason = fmt.Sprintf("an append failed %s ago (window %s): %s; %d readings lost in total (last appended %s)",
			round(ago), win, sp.LastError, sp.LostReadings, fmtTime(snap.LastSpooled))
	} else if quiet := now.Sub(later(snap.LastSpooled, s.started)); quiet > win {
		spool.OK = false
		spool.Reason = fmt.Sprintf("nothing appended for %s (window %s; last appended %s)", round(quiet), win, fmtTime(snap.LastSpooled))
	} else {
		spool.Reason = fmt.Sprintf("appended %s ago", round(quiet))
	}
	return []Check{sensors, spool}
}

// publishers returns one check per publisher: it delivered within
// Opts.HealthMaxSilence, or nothing waits for it.
func (s *Server) publishers(snap Snapshot, now time.Time) []Check {
	out := make([]Check, 0, len(snap.Publishers))
	for _, p := range snap.Publishers {
		c := Check{Name: CheckPublisherPrefix + p.Name, OK: true}
		quiet := now.Sub(later(p.LastSuccess, s.started))
		switch {
		case p.LagRecords <= 0:
			c.Reason = "nothing waiting"
		case quiet > s.opts.HealthMaxSilence:
			c.OK = false
			c.Reason = fmt.Sprintf("%d records waiting and nothing delivered for %s (max %s; last delivered %s)",
				p.LagRecords, round(quiet), s.opts.HealthMaxSilence, fmtTime(p.LastSuccess))
			if p.LastError != "" {
				c.Reason += "; last error: " + p.LastError
			}
		default:
			c.Reason = fmt.Sprintf("%d records waiting; silent for %s (max %s)", p.LagRecords, round(quiet), s.opts.HealthMaxSilence)
		}
		out = append(out, c)
	}
	return out
}

// health evaluates /livez (full false) or /healthz (full true).
func (s *Server) health(snap Snapshot, full bool) Health {
	now := s.opts.Clock.Now()
	live := s.live(snap, now)
	checks := live
	if full {
		checks = append(checks, s.publishers(snap, now)...)
	}
	h := Health{Status: StateOK, Checks: checks}
	var why []string
	for i, c := range checks {
		if c.OK {
			continue
		}
		why = append(why, c.Name+": "+c.Reason)
		if i < len(live) {
			h.Status = StateDown
		} else if h.Status == StateOK {
			h.Status = StateDegraded
		}
	}
	h.OK = h.Status == StateOK
	h.Reason = "ok"
	if len(why) > 0 {
		h.Reason = strings.Join(why, "; ")
	}
	return h
}

func (s *Server) handleLivez(w http.ResponseWriter, _ *http.Request) {
	writeHealth(w, s.health(s.src.Snapshot(), false))
}

func (s *Server) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	writeHealth(w, s.health(s.src.Snapshot(), true))
}

func writeHealth(w http.ResponseWriter, h Health) {
	if !h.OK {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	writeJSON(w, h)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func round(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(100 * time.Millisecond)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}
