// Package spool is the agent's durability point: an append-only, bounded,
// checksummed on-disk queue between the pipeline and the publishers.
//
// Records are opaque byte payloads (the pipeline stores encoded
// pipeline.Batch values) numbered by a uint64 sequence that grows
// monotonically across restarts. Each publisher reads through its own
// Cursor, in order, and acknowledges what its destination accepted.
//
// # On-disk layout
//
// A spool directory holds:
//
//   - segment files named <first seq, 16 hex digits>.seg. Each starts with a
//     24-byte header ("STSP", version, first seq, creation time) followed by
//     frames: length (uint32), CRC-32C (uint32), seq (uint64), append time
//     (int64 Unix nanoseconds), payload. The CRC covers the length and
//     everything after the CRC. Segments are only appended to and are
//     deleted whole; nothing is ever rewritten.
//   - <name>.cursor, one per cursor: two 16-byte slots (acked seq,
//     generation, CRC-32C) written alternately, so a torn cursor write
//     always leaves the previous value readable.
//   - quarantine.jsonl (and quarantine.jsonl.1 after rotation): readings a
//     publisher rejected permanently, one JSON object per line
//     (QuarantineEntry), under quarantine.lock.
//   - requeue/<publisher>/*.jsonl: entries an operator requeued (Requeue)
//     for that publisher's runner, which deletes each file once delivered.
//
// # Durability and wear
//
// Append writes each frame with one write call. The segment is fsynced at
// most once per Opts.SyncInterval (default 1 s): inline in Append when the
// last sync is older than that, otherwise by Run within the interval.
// Cursors only ever see synced records, so a record a publisher delivered
// can never be lost (or its seq reused) by a power cut. Cursor positions are
// persisted lazily with the segment sync, at most once per interval, and
// only when they moved: after a crash a publisher may see again the records
// it acknowledged during the last interval (at-least-once), never fewer.
//
// On Open the newest segment is scanned; a torn tail (a frame cut short by a
// crash) is truncated. A corrupted frame anywhere is skipped by the cursor
// that meets it, which resynchronises on the next valid frame and counts and
// logs the skipped bytes. No failure mode needs a manual delete.
//
// # Bounds
//
// The spool is bounded by Opts.MaxBytes and Opts.MaxAge. When an append
// would exceed MaxBytes the oldest segment is deleted; segments whose
// records are all older than MaxAge are deleted by Run. Drops are counted
// (Stats) and logged at once. The writer is never blocked by a slow
// publisher.
package spool
