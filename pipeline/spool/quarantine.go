package spool

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// QuarantineFile is the dead-letter file's name inside the spool directory;
// it rotates to QuarantineFile+".1".
const QuarantineFile = "quarantine.jsonl"

// QuarantineEntry is one line of the quarantine file.
type QuarantineEntry struct {
	Time      time.Time `json:"time"`
	Publisher string    `json:"publisher"`
	Seq       uint64    `json:"seq"`
	Reason    string    `json:"reason"`
	Payload   []byte    `json:"payload"` // the record payload, base64 in JSON
}

// Quarantine appends rec to the dead-letter file with the publisher that
// rejected it and why, and fsyncs the file. It does not acknowledge the
// record; the caller does.
func (s *Spool) Quarantine(publisher string, rec Record, reason string) error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	line, err := json.Marshal(QuarantineEntry{Time: s.clk.Now().UTC(), Publisher: publisher, Seq: rec.Seq, Reason: reason, Payload: rec.Payload})
	if err != nil {
		return fmt.Errorf("spool: quarantine: %w", err)
	}
	line = append(line, '\n')
	s.qmu.Lock()
	defer s.qmu.Unlock()
	p := filepath.Join(s.dir, QuarantineFile)
	if s.qfile != nil && s.qsize > 0 && s.qsize+int64(len(line)) > s.opts.MaxQuarantineBytes {
		s.qfile.Close()
		s.qfile = nil
		if err := os.Rename(p, p+".1"); err != nil {
			return fmt.Errorf("spool: quarantine: rotate: %w", err)
		}
	}
	if s.qfile == nil {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return fmt.Errorf("spool: quarantine: %w", err)
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return fmt.Errorf("spool: quarantine: %w", err)
		}
		s.qfile, s.qsize = f, st.Size()
	}
	n, err := s.qfile.Write(line)
	s.qsize += int64(n)
	s.st.written.Add(uint64(n))
	if err == nil {
		err = datasync(s.qfile)
		s.st.syncs.Add(1)
	}
	if err != nil {
		return fmt.Errorf("spool: quarantine: %w", err)
	}
	total := s.st.quarantined.Add(1)
	s.log.Info("spool: quarantined record", "publisher", publisher, "seq", rec.Seq, "reason", reason, "quarantined_total", total)
	return nil
}
