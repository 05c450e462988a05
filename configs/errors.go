package configs

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// ErrInvalid is matched (errors.Is) by every configuration error.
var ErrInvalid = errors.New("configs: invalid configuration")

// Error is one problem in a configuration: where it is, which key, what is
// wrong and what is allowed.
type Error struct {
	File string // file name as given to Parse; may be empty
	Line int    // 1-based; 0 when the key is not in the file (a default)
	Key  string // dotted key path: pipeline.window, publishers[0].topic
	Msg  string
}

// Error formats e as "file:line: key: message".
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(":")
	}
	if e.Line > 0 {
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(":")
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// Errors is every problem found in one configuration, in file order.
type Errors []*Error

// Error lists the problems one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the individual errors.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

func (es Errors) sort() {
	sort.SliceStable(es, func(i, j int) bool {
		li, lj := es[i].Line, es[j].Line
		if li == 0 { // not in the file: after the ones that are
			li = 1 << 30
		}
		if lj == 0 {
			lj = 1 << 30
		}
		return li < lj
	})
}

func (es Errors) err() error {
	if len(es) == 0 {
		return nil
	}
	es.sort()
	return es
}

// Errorf returns an Error at key (a dotted key path such as
// publishers[0].cert_file) placed in the file the configuration came
// from: at the key's line, or at its nearest ancestor's when the key is
// not in the file (a default).
func (c *Config) Errorf(key, format string, a ...any) *Error {
	d := decoder{lines: c.lines}
	return &Error{File: c.Source, Line: d.lineOf(key), Key: key, Msg: fmt.Sprintf(format, a...)}
}
