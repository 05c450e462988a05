package spool

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Quarantine files inside the spool directory.
const (
	// QuarantineFile is the dead-letter file's name; it rotates to
	// QuarantineFile+".1" (the previous ".1" is dropped), so the quarantine
	// holds at most twice Opts.MaxQuarantineBytes.
	QuarantineFile = "quarantine.jsonl"
	// QuarantineLock is flocked by every writer of the quarantine and
	// requeue files: the agent while it appends an entry, `stirling spool
	// quarantine requeue` while it moves entries out. It is not the
	// directory lock, so requeue works while the agent runs.
	QuarantineLock = "quarantine.lock"
	// RequeueDir holds entries an operator requeued, one directory per
	// target publisher: requeue/<publisher>/<stamp>.jsonl, in the
	// quarantine's line format. That publisher's runner delivers them
	// (before newer records) and removes each file once it is done; no
	// other publisher sees them.
	RequeueDir = "requeue"
)

// MaxQuarantineLine bounds one line read back from a quarantine or requeue
// file (a line longer than this is reported as damaged).
const MaxQuarantineLine = 16 << 20

// QuarantineEntry is one line of the quarantine file (JSON).
type QuarantineEntry struct {
	Time      time.Time `json:"time"`      // when it was quarantined (UTC)
	Publisher string    `json:"publisher"` // the publisher that rejected it
	Seq       uint64    `json:"seq"`       // the spool record it came from
	Reason    string    `json:"reason"`
	// Readings is a JSON array of reading objects (see publish.ReadingsJSON).
	Readings json.RawMessage `json:"readings,omitempty"`
	// Payload holds the raw record, base64 in JSON, only when the record
	// could not be decoded into readings.
	Payload []byte `json:"payload,omitempty"`
}

// Quarantine appends e to the dead-letter file and fsyncs it. A zero Time
// is set to now. It does not acknowledge the record; the caller does.
func (s *Spool) Quarantine(e QuarantineEntry) error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if e.Time.IsZero() {
		e.Time = s.clk.Now()
	}
	e.Time = e.Time.UTC()
	line, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("spool: quarantine: %w", err)
	}
	line = append(line, '\n')
	s.qmu.Lock()
	defer s.qmu.Unlock()
	unlock, err := lockFile(filepath.Join(s.dir, QuarantineLock))
	if err != nil {
		return fmt.Errorf("spool: quarantine: %w", err)
	}
	defer unlock()
	// Opened for every entry (entries are rare): requeue rewrites the file
	// between appends, and an open descriptor would keep writing to the
	// replaced one.
	p := filepath.Join(s.dir, QuarantineFile)
	if st, err := os.Stat(p); err == nil && st.Size() > 0 && st.Size()+int64(len(line)) > s.opts.MaxQuarantineBytes {
		if err := os.Rename(p, p+".1"); err != nil {
			return fmt.Errorf("spool: quarantine: rotate: %w", err)
		}
		s.log.Info("quarantine rotated; the older half was dropped", "file", p+".1", "max_bytes", s.opts.MaxQuarantineBytes)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("spool: quarantine: %w", err)
	}
	n, err := f.Write(line)
	s.st.written.Add(uint64(n))
	if err == nil {
		err = datasync(f)
		s.st.syncs.Add(1)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("spool: quarantine: %w", err)
	}
	total := s.st.quarantined.Add(1)
	s.log.Info("quarantined record", "publisher", e.Publisher, "seq", e.Seq, "reason", e.Reason, "quarantined_total", total)
	return nil
}

// ErrDamagedLine is wrapped by the errors ReadQuarantine reports for lines
// it cannot parse.
var ErrDamagedLine = errors.New("spool: damaged quarantine line")

// ReadQuarantine returns the entries of the quarantine in dir, oldest
// first (QuarantineFile+".1", then QuarantineFile). Lines that do not parse
// are skipped and reported in damaged (file:line: cause). It takes no lock:
// entries appended meanwhile may be missing.
func ReadQuarantine(dir string) (entries []QuarantineEntry, damaged []error, err error) {
	for _, name := range []string{QuarantineFile + ".1", QuarantineFile} {
		es, bad, err := readEntries(filepath.Join(dir, name))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, nil, err
		}
		entries, damaged = append(entries, es...), append(damaged, bad...)
	}
	return entries, damaged, nil
}

// readEntries parses one JSON-lines file of entries.
func readEntries(path string) ([]QuarantineEntry, []error, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var es []QuarantineEntry
	var bad []error
	r := bufio.NewReader(f)
	for n := 1; ; n++ {
		line, err := readLine(r)
		if len(bytes.TrimSpace(line)) > 0 {
			var e QuarantineEntry
			if jerr := json.Unmarshal(line, &e); jerr != nil {
				bad = append(bad, fmt.Errorf("%w: %s:%d: %w", ErrDamagedLine, path, n, jerr))
			} else {
				es = append(es, e)
			}
		}
		if errors.Is(err, errLongLine) {
			bad = append(bad, fmt.Errorf("%w: %s:%d: over %d bytes", ErrDamagedLine, path, n, MaxQuarantineLine))
			continue
		}
		if err == io.EOF {
			return es, bad, nil
		}
		if err != nil {
			return es, bad, fmt.Errorf("spool: read %s: %w", path, err)
		}
	}
}

var errLongLine = errors.New("line too long")

// readLine reads one line of at most MaxQuarantineLine bytes; a longer one
// is skipped to its end and reported as errLongLine.
func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line)+len(chunk) > MaxQuarantineLine {
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = r.ReadSlice('\n')
			}
			if err == io.EOF {
				return nil, err
			}
			return nil, errLongLine
		}
		line = append(line, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return line, err
	}
}

// RequeueResult says what Requeue did.
type RequeueResult struct {
	// Requeued counts the entries moved per target publisher.
	Requeued map[string]int
	// Readings counts their readings in all.
	Readings int
	// Undecodable counts matching entries left in the quarantine because
	// they hold a raw record that never decoded into readings.
	Undecodable int
	// Files are the requeue files written.
	Files []string
}

// Requeue moves the quarantine entries in dir for which pick returns true
// into requeue files, one per publisher that rejected them, and rewrites the
// quarantine without them. It holds QuarantineLock throughout, so it is safe
// while the agent runs; the agent's runner for each publisher picks its
// file up within seconds (or at its next start). The requeue files are
// fsynced before the quarantine is rewritten: a crash in between leaves an
// entry in both, delivered once more if requeued again.
func Requeue(dir string, pick func(*QuarantineEntry) bool) (RequeueResult, error) {
	res := RequeueResult{Requeued: map[string]int{}}
	own, err := ownerOf(dir)
	if err != nil {
		return res, fmt.Errorf("spool: requeue: %w", err)
	}
	lock := filepath.Join(dir, QuarantineLock)
	unlock, err := lockFile(lock)
	if err != nil {
		return res, fmt.Errorf("spool: requeue: %w", err)
	}
	defer unlock()
	if err := own(lock); err != nil {
		return res, err
	}
	type file struct {
		path string
		keep []QuarantineEntry
		took bool
	}
	var files []*file
	byPub := map[string][]QuarantineEntry{}
	var order []string
	for _, name := range []string{QuarantineFile + ".1", QuarantineFile} {
		p := filepath.Join(dir, name)
		es, bad, err := readEntries(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return res, err
		}
		if len(bad) > 0 {
			return res, fmt.Errorf("spool: requeue: %w (fix or remove the line first)", errors.Join(bad...))
		}
		f := &file{path: p}
		for _, e := range es {
			if !pick(&e) {
				f.keep = append(f.keep, e)
				continue
			}
			if len(e.Readings) == 0 {
				res.Undecodable++
				f.keep = append(f.keep, e)
				continue
			}
			if err := ValidCursorName(e.Publisher); err != nil {
				return res, fmt.Errorf("spool: requeue: entry seq %d: %w", e.Seq, err)
			}
			if _, ok := byPub[e.Publisher]; !ok {
				order = append(order, e.Publisher)
			}
			byPub[e.Publisher] = append(byPub[e.Publisher], e)
			f.took = true
		}
		files = append(files, f)
	}
	stamp := strconv.FormatInt(time.Now().UnixNano(), 10)
	for _, pub := range order {
		es := byPub[pub]
		top := filepath.Join(dir, RequeueDir)
		d := filepath.Join(top, pub)
		if err := os.MkdirAll(d, 0o750); err != nil {
			return res, fmt.Errorf("spool: requeue: %w", err)
		}
		if err := errors.Join(own(top), own(d)); err != nil {
			return res, err
		}
		p := filepath.Join(d, stamp+".jsonl")
		if err := writeEntries(p, es, own); err != nil {
			return res, err
		}
		res.Files = append(res.Files, p)
		res.Requeued[pub] = len(es)
		for _, e := range es {
			res.Readings += countReadings(e.Readings)
		}
	}
	for _, f := range files {
		if f.took {
			if err := writeEntries(f.path, f.keep, own); err != nil {
				return res, err
			}
		}
	}
	return res, nil
}

// countReadings counts the elements of a JSON array (0 if it is not one).
func countReadings(raw json.RawMessage) int {
	var rs []json.RawMessage
	if json.Unmarshal(raw, &rs) != nil {
		return 0
	}
	return len(rs)
}

// ownerOf returns a function that gives a path the owner of dir when this
// process runs as root (an operator's `sudo stirling spool ...`), so the
// agent, running as the spool's owner, can still append to the quarantine
// and remove the requeue files; otherwise it does nothing.
func ownerOf(dir string) (func(string) error, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	uid, gid, ok := fileOwner(st)
	if !ok || os.Geteuid() != 0 {
		return func(string) error { return nil }, nil
	}
	return func(p string) error {
		if err := os.Lchown(p, uid, gid); err != nil {
			return fmt.Errorf("spool: give %s to the spool's owner: %w", p, err)
		}
		return nil
	}, nil
}

// writeEntries replaces path with es, one JSON line each: a temporary file
// in the same directory, fsynced, given to the spool's owner (own), renamed
// over path, then the directory fsynced.
func writeEntries(path string, es []QuarantineEntry, own func(string) error) error {
	var buf bytes.Buffer
	for _, e := range es {
		line, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("spool: write %s: %w", path, err)
		}
		buf.Write(line)
		buf.WriteByte('\n')
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("spool: write %s: %w", path, err)
	}
	_, err = f.Write(buf.Bytes())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = own(tmp)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("spool: write %s: %w", path, err)
	}
	return nil
}

// RequeueFiles lists the requeue files waiting for publisher in dir, oldest
// first. A missing directory is no error.
func RequeueFiles(dir, publisher string) ([]string, error) {
	d := filepath.Join(dir, RequeueDir, publisher)
	ents, err := os.ReadDir(d)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("spool: requeue: %w", err)
	}
	var out []string
	for _, e := range ents {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".jsonl") {
			out = append(out, filepath.Join(d, e.Name()))
		}
	}
	slices.Sort(out) // names are nanosecond stamps of equal length
	return out, nil
}

// ReadRequeueFile returns the entries of one requeue file; damaged lines
// are returned in damaged.
func ReadRequeueFile(path string) (entries []QuarantineEntry, damaged []error, err error) {
	return readEntries(path)
}

// Dir is the spool's directory.
func (s *Spool) Dir() string { return s.dir }

// RemoveRequeueFile deletes a delivered requeue file (under
// QuarantineLock, so a requeue in progress is never half-removed).
func (s *Spool) RemoveRequeueFile(path string) error {
	unlock, err := lockFile(filepath.Join(s.dir, QuarantineLock))
	if err != nil {
		return fmt.Errorf("spool: requeue: %w", err)
	}
	defer unlock()
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("spool: requeue: %w", err)
	}
	return syncDir(filepath.Dir(path))
}
