// Package yamlbound decodes untrusted YAML (configuration and ROI files)
// into a yaml.Node tree within fixed bounds, before anything walks it:
//
//   - at most MaxBytes of input (1 MiB: a full agent configuration is
//     about 4 KiB);
//   - at most MaxAliases alias nodes (*name), and at most MaxNodes nodes
//     once every alias is expanded, so an alias bomb ("billion laughs")
//     fails in microseconds instead of expanding in memory;
//   - exactly one document: a second one after "---" is an error, not
//     silently ignored.
//
// Errors are *Error values with the file name and the line at fault; they
// match ErrTooLarge, ErrAliases or ErrDocuments with errors.Is.
package yamlbound

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// Bounds.
const (
	// MaxBytes is the largest file accepted.
	MaxBytes = 1 << 20
	// MaxAliases is the most alias nodes a document may hold.
	MaxAliases = 64
	// MaxNodes is the most nodes the document may have with every alias
	// expanded (what a walker following aliases visits).
	MaxNodes = 100_000
)

// Sentinels matched by Error.
var (
	ErrTooLarge  = errors.New("yaml: file too large")
	ErrAliases   = errors.New("yaml: too many aliases")
	ErrDocuments = errors.New("yaml: more than one document")
	ErrSyntax    = errors.New("yaml: not valid YAML")
)

// Error is a bounded-decoding failure.
type Error struct {
	File string // as given; may be empty
	Line int    // 1-based; 0 when not known
	Msg  string
	Err  error // one of the sentinels
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File + ":")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:", e.Line)
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the sentinel.
func (e *Error) Unwrap() error { return e.Err }

// ReadFile reads at most MaxBytes+1 bytes of path and refuses a longer
// file with ErrTooLarge; other errors are those of os.Open and Read
// (fs.ErrNotExist for a missing file).
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxBytes {
		return nil, tooLarge(path)
	}
	return b, nil
}

func tooLarge(name string) error {
	return &Error{File: name, Err: ErrTooLarge,
		Msg: fmt.Sprintf("larger than %d bytes (1 MiB); a configuration or ROI file is a few KiB", MaxBytes)}
}

// Decode parses data (named name in errors) into a node tree within the
// bounds. An empty document gives a zero Node (Kind 0).
func Decode(name string, data []byte) (*yaml.Node, error) {
	if len(data) > MaxBytes {
		return nil, tooLarge(name)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		return nil, &Error{File: name, Line: errLine(err), Msg: "not valid YAML: " + errMsg(err), Err: ErrSyntax}
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, &Error{File: name, Line: errLine(err), Msg: "not valid YAML: " + errMsg(err), Err: ErrSyntax}
	default:
		return nil, &Error{File: name, Line: extra.Line, Err: ErrDocuments,
			Msg: "a second YAML document (after ---); want exactly one document"}
	}
	if err := checkAliases(name, &root); err != nil {
		return nil, err
	}
	return &root, nil
}

// checkAliases counts alias nodes and the expanded size of the tree. The
// expanded size of each anchored node is computed once (memoised), so
// the check itself is linear in the document.
func checkAliases(name string, root *yaml.Node) error {
	aliases := 0
	var first *yaml.Node
	size := map[*yaml.Node]int{}
	var walk func(n *yaml.Node, depth int) (int, error)
	walk = func(n *yaml.Node, depth int) (int, error) {
		if depth > 1000 {
			return 0, &Error{File: name, Line: n.Line, Err: ErrAliases, Msg: "nested more than 1000 levels deep"}
		}
		if s, ok := size[n]; ok {
			if s < 0 { // on the current path: an alias of its own ancestor
				return 0, &Error{File: name, Line: n.Line, Err: ErrAliases, Msg: "an alias refers to a node that contains it"}
			}
			return s, nil
		}
		size[n] = -1
		total := 1
		if n.Kind == yaml.AliasNode {
			aliases++
			if first == nil {
				first = n
			}
			if aliases > MaxAliases {
				return 0, &Error{File: name, Line: n.Line, Err: ErrAliases,
					Msg: fmt.Sprintf("more than %d aliases (*%s and others); write the values out instead", MaxAliases, n.Value)}
			}
			if n.Alias != nil {
				s, err := walk(n.Alias, depth+1)
				if err != nil {
					return 0, err
				}
				total += s
			}
		}
		for _, c := range n.Content {
			s, err := walk(c, depth+1)
			if err != nil {
				return 0, err
			}
			total += s
			if total > MaxNodes {
				break
			}
		}
		if total > MaxNodes {
			line := n.Line
			if first != nil {
				line = first.Line
			}
			return 0, &Error{File: name, Line: line, Err: ErrAliases,
				Msg: fmt.Sprintf("expands to more than %d nodes through its aliases (an alias bomb?); write the values out instead", MaxNodes)}
		}
		size[n] = total
		return total, nil
	}
	_, err := walk(root, 0)
	return err
}

// errLine and errMsg split yaml.v3's "yaml: line N: msg".
func errLine(err error) int {
	var line int
	if _, e := fmt.Sscanf(strings.TrimPrefix(err.Error(), "yaml: "), "line %d:", &line); e == nil {
		return line
	}
	return 0
}

func errMsg(err error) string {
	s := strings.TrimPrefix(err.Error(), "yaml: ")
	if strings.HasPrefix(s, "line ") {
		if _, rest, ok := strings.Cut(s, ": "); ok {
			return rest
		}
	}
	return s
}
