package spool

import (
	"errors"
	"io"
	"os"
)

const windowSize = 64 << 10

// errShortRead means the bytes asked for extend past the readable limit.
var errShortRead = errors.New("spool: read past limit")

// reader reads frames of one segment file through a fixed-size window, so
// replaying a segment never holds more than windowSize bytes (plus the
// largest record) in memory.
type reader struct {
	f      *os.File
	win    []byte
	winOff int64
	big    []byte
}

func newReader(f *os.File) *reader {
	return &reader{f: f, win: make([]byte, 0, windowSize)}
}

// bytes returns the file bytes [off, off+n); the slice is valid until the
// next call.
func (r *reader) bytes(off int64, n int, limit int64) ([]byte, error) {
	if n < 0 || off+int64(n) > limit {
		return nil, errShortRead
	}
	if off >= r.winOff && off+int64(n) <= r.winOff+int64(len(r.win)) {
		i := off - r.winOff
		return r.win[i : i+int64(n)], nil
	}
	if n > cap(r.win) {
		if cap(r.big) < n {
			r.big = make([]byte, n)
		}
		b := r.big[:n]
		if _, err := r.f.ReadAt(b, off); err != nil {
			return nil, err
		}
		return b, nil
	}
	m := int(min(int64(cap(r.win)), limit-off))
	got, err := r.f.ReadAt(r.win[:m], off)
	r.win, r.winOff = r.win[:got], off
	if got < n {
		if err == nil || errors.Is(err, io.EOF) {
			err = errShortRead
		}
		return nil, err
	}
	return r.win[:n], nil
}

// frameAt reads the frame at off. valid is false when the bytes there are
// not a complete frame with a matching checksum; err is an I/O error.
func (r *reader) frameAt(off, limit int64, maxRec int) (f []byte, valid bool, err error) {
	h, err := r.bytes(off, frameHeader, limit)
	if errors.Is(err, errShortRead) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	n := frameLen(h)
	if n > maxRec || off+int64(frameHeader+n) > limit {
		return nil, false, nil
	}
	f, err = r.bytes(off, frameHeader+n, limit)
	if errors.Is(err, errShortRead) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return f, checkFrame(f), nil
}

// resync returns the offset of the first valid frame after off whose seq
// lies in [minSeq, maxSeq], or limit when there is none.
func (r *reader) resync(off, limit int64, maxRec int, minSeq, maxSeq uint64) (int64, error) {
	for o := off + 1; o+frameHeader <= limit; o++ {
		h, err := r.bytes(o, frameHeader, limit)
		if err != nil {
			return 0, err
		}
		n, seq := frameLen(h), frameSeq(h)
		if n > maxRec || o+int64(frameHeader+n) > limit || seq < minSeq || seq > maxSeq {
			continue
		}
		if _, ok, err := r.frameAt(o, limit, maxRec); err != nil {
			return 0, err
		} else if ok {
			return o, nil
		}
	}
	return limit, nil
}
