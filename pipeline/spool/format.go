package spool

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

const (
	headerSize  = 24 // segment header: magic, version, 3 reserved, first seq, created
	frameHeader = 24 // frame: length, crc, seq, time
	slotSize    = 16 // cursor slot: acked seq, generation, crc
	segVersion  = 1
	segSuffix   = ".seg"
	curSuffix   = ".cursor"
)

var (
	segMagic = [4]byte{'S', 'T', 'S', 'P'}
	castag   = crc32.MakeTable(crc32.Castagnoli)
)

func segName(base uint64) string { return fmt.Sprintf("%016x%s", base, segSuffix) }

// parseSegName returns the first seq encoded in a segment file name.
func parseSegName(name string) (uint64, bool) {
	hex, ok := strings.CutSuffix(name, segSuffix)
	if !ok || len(hex) != 16 {
		return 0, false
	}
	v, err := strconv.ParseUint(hex, 16, 64)
	return v, err == nil
}

func (s *Spool) segPath(base uint64) string { return filepath.Join(s.dir, segName(base)) }

func appendHeader(dst []byte, base uint64, created time.Time) []byte {
	dst = append(dst, segMagic[:]...)
	dst = append(dst, segVersion, 0, 0, 0)
	dst = binary.LittleEndian.AppendUint64(dst, base)
	return binary.LittleEndian.AppendUint64(dst, uint64(created.UnixNano()))
}

// parseHeader checks a segment header and returns its creation time.
func parseHeader(h []byte, base uint64) (time.Time, error) {
	if len(h) < headerSize {
		return time.Time{}, fmt.Errorf("short header (%d bytes)", len(h))
	}
	if [4]byte(h[:4]) != segMagic || h[4] != segVersion {
		return time.Time{}, fmt.Errorf("bad magic or version %x", h[:5])
	}
	if got := binary.LittleEndian.Uint64(h[8:]); got != base {
		return time.Time{}, fmt.Errorf("header seq %d does not match file name seq %d", got, base)
	}
	return time.Unix(0, int64(binary.LittleEndian.Uint64(h[16:]))), nil
}

func appendFrame(dst []byte, seq uint64, t time.Time, payload []byte) []byte {
	start := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(payload)))
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.LittleEndian.AppendUint64(dst, seq)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(t.UnixNano()))
	dst = append(dst, payload...)
	f := dst[start:]
	binary.LittleEndian.PutUint32(f[4:], frameCRC(f))
	return dst
}

func frameCRC(f []byte) uint32 {
	c := crc32.Update(0, castag, f[:4])
	return crc32.Update(c, castag, f[8:])
}

// frameLen returns the payload length a frame header claims, clamped to
// maxRecord+1 so a corrupt length cannot overflow an int on 32-bit ARM.
func frameLen(h []byte) int {
	n := binary.LittleEndian.Uint32(h)
	if n > maxRecord {
		return maxRecord + 1
	}
	return int(n)
}

// checkFrame validates a complete frame (header and payload).
func checkFrame(f []byte) bool {
	return len(f) >= frameHeader && frameLen(f) == len(f)-frameHeader &&
		binary.LittleEndian.Uint32(f[4:]) == frameCRC(f)
}

func frameSeq(f []byte) uint64 { return binary.LittleEndian.Uint64(f[8:]) }

func frameTime(f []byte) time.Time { return time.Unix(0, int64(binary.LittleEndian.Uint64(f[16:]))) }

func appendSlot(dst []byte, acked uint64, gen uint32) []byte {
	start := len(dst)
	dst = binary.LittleEndian.AppendUint64(dst, acked)
	dst = binary.LittleEndian.AppendUint32(dst, gen)
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castag))
}

func parseSlot(b []byte) (acked uint64, gen uint32, ok bool) {
	if len(b) < slotSize || binary.LittleEndian.Uint32(b[12:]) != crc32.Checksum(b[:12], castag) {
		return 0, 0, false
	}
	return binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint32(b[8:]), true
}
