package calibrate

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/stirling-iot/stirling/internal/webguard"
	"github.com/stirling-iot/stirling/sensors"
)

// ROIFlags collects repeated NAME=x,y,w,h regions (the --roi flag); it is
// a flag.Value.
type ROIFlags map[string]sensors.ROI

// String lists the regions set.
func (r ROIFlags) String() string {
	var s []string
	for k, v := range r {
		s = append(s, k+"="+v.String())
	}
	return strings.Join(s, " ")
}

// Set parses one NAME=x,y,w,h; NAME is hot_cylinder, cold_cylinder or flame.
func (r ROIFlags) Set(v string) error {
	name, spec, ok := strings.Cut(v, "=")
	if !ok {
		return fmt.Errorf("want NAME=x,y,w,h, got %q", v)
	}
	switch name {
	case sensors.HotCylinder, sensors.ColdCylinder, sensors.Flame:
	default:
		return fmt.Errorf("unknown region %q: want %s, %s or %s", name, sensors.HotCylinder, sensors.ColdCylinder, sensors.Flame)
	}
	parts := strings.Split(spec, ",")
	if len(parts) != 4 {
		return fmt.Errorf("%s: want x,y,w,h (4 integers), got %q", name, spec)
	}
	var n [4]int
	for i, p := range parts {
		x, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return fmt.Errorf("%s: %q is not an integer", name, p)
		}
		n[i] = x
	}
	r[name] = sensors.ROI{X: n[0], Y: n[1], W: n[2], H: n[3]}
	return nil
}

// apply overwrites the regions of dst that r sets.
func (r ROIFlags) apply(dst *sensors.ROIs) {
	for name, v := range r {
		switch name {
		case sensors.HotCylinder:
			dst.HotCylinder = v
		case sensors.ColdCylinder:
			dst.ColdCylinder = v
		case sensors.Flame:
			dst.Flame = v
		}
	}
}

// HostList collects the host names the page may also be opened by (the
// --allow-host flag): repeatable, each a comma list; it is a flag.Value.
type HostList []string

// String joins the names with commas.
func (h *HostList) String() string { return strings.Join(*h, ",") }

// Set adds the names of one comma list, refusing one that is not a host
// or host:port.
func (h *HostList) Set(v string) error {
	for n := range strings.SplitSeq(v, ",") {
		if n = strings.TrimSpace(n); n == "" {
			continue
		}
		if _, err := webguard.ParseHost(n); err != nil {
			return err
		}
		*h = append(*h, n)
	}
	return nil
}
