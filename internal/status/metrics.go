package status

import (
	"bufio"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// WriteMetrics writes ms in the Prometheus text exposition format (0.0.4).
// Samples are grouped into families by name; families are sorted by name and
// samples keep their order within a family.
func WriteMetrics(w io.Writer, ms []Metric) error {
	type family struct {
		name, help string
		typ        MetricType
		samples    []Metric
	}
	fams := make(map[string]*family)
	var names []string
	for _, m := range ms {
		name := metricName(m.Name)
		if m.Type == Counter && !strings.HasSuffix(name, "_total") {
			name += "_total"
		}
		f := fams[name]
		if f == nil {
			f = &family{name: name, help: m.Help, typ: m.Type}
			fams[name] = f
			names = append(names, name)
		}
		f.samples = append(f.samples, m)
	}
	sort.Strings(names)
	bw := bufio.NewWriter(w)
	var line []byte
	for _, n := range names {
		f := fams[n]
		typ := f.typ
		if typ != Counter && typ != Gauge {
			typ = "untyped"
		}
		line = line[:0]
		if f.help != "" {
			line = append(line, "# HELP "...)
			line = append(line, n...)
			line = append(line, ' ')
			line = appendHelp(line, f.help)
			line = append(line, '\n')
		}
		line = append(line, "# TYPE "...)
		line = append(line, n...)
		line = append(line, ' ')
		line = append(line, typ...)
		line = append(line, '\n')
		for _, s := range f.samples {
			line = append(line, n...)
			if len(s.Labels) > 0 {
				line = append(line, '{')
				for i, l := range s.Labels {
					if i > 0 {
						line = append(line, ',')
					}
					line = append(line, labelName(l.Name)...)
					line = append(line, `="`...)
					line = appendLabelValue(line, l.Value)
					line = append(line, '"')
				}
				line = append(line, '}')
			}
			line = append(line, ' ')
			line = appendValue(line, s.Value)
			line = append(line, '\n')
		}
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// metricName maps s onto [a-zA-Z_:][a-zA-Z0-9_:]*.
func metricName(s string) string { return sanitize(s, true) }

// labelName maps s onto [a-zA-Z_][a-zA-Z0-9_]*.
func labelName(s string) string { return sanitize(s, false) }

func sanitize(s string, colon bool) string {
	if s == "" {
		return "_"
	}
	b := []byte(s)
	for i, c := range b {
		ok := c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' ||
			(i > 0 && c >= '0' && c <= '9') || (colon && c == ':')
		if !ok {
			b[i] = '_'
		}
	}
	return string(b)
}

// appendHelp escapes backslash and newline.
func appendHelp(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			dst = append(dst, `\\`...)
		case '\n':
			dst = append(dst, `\n`...)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// appendLabelValue escapes backslash, double quote and newline.
func appendLabelValue(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			dst = append(dst, `\\`...)
		case '"':
			dst = append(dst, `\"`...)
		case '\n':
			dst = append(dst, `\n`...)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

func appendValue(dst []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(dst, "NaN"...)
	case math.IsInf(v, 1):
		return append(dst, "+Inf"...)
	case math.IsInf(v, -1):
		return append(dst, "-Inf"...)
	}
	return strconv.AppendFloat(dst, v, 'g', -1, 64)
}
