package configs

import "github.com/stirling-iot/stirling/pipeline/spool"

// Opts converts the spool section to spool options (without the clock,
// which the caller sets); the directory is s.Dir:
//
//	sp, err := spool.Open(cfg.Spool.Dir, cfg.Spool.Opts(), log)
func (s *Spool) Opts() spool.Opts {
	o := spool.DefaultOpts()
	o.MaxBytes = int64(s.MaxBytes)
	o.MaxAge = s.MaxAge
	o.SegmentBytes = int64(s.SegmentBytes)
	o.SyncInterval = s.SyncInterval
	if s.SyncInterval == 0 {
		o.SyncInterval = -1 // the spool's "fsync on every append"
	}
	return o
}
