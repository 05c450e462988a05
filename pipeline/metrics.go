package pipeline

// Metric names. Temperatures are in degrees Celsius ("Cel"), differences
// in kelvin ("K"), dimensionless values in "1" (UCUM units, as SiteWise and
// most historians expect).
//
//	rpm                       RPM  flywheel speed; 0 when stalled
//	<roi>_c                   Cel  mean of the region's valid, fresh, non-broken pixels
//	<roi>_c_min, <roi>_c_max  Cel  coldest and hottest such pixel
//	<roi>_c_p90               Cel  90th percentile: a robust "hot part" statistic that
//	                               one hot pixel cannot move (use it for the flame)
//	<roi>_pixels              1    number of pixels the statistics used
//	delta_t                   K    hot_cylinder_c minus cold_cylinder_c
//	carnot_limit              1    1 - Tc/Th in kelvin from the two means, clamped at 0:
//	                               the best efficiency the temperature difference allows
//	flame_present             1    1 while the flame region's p90 is above
//	                               engine.flame_on_c (hysteresis down to flame_off_c);
//	                               a window's mean is the fraction of time the flame burned
//	engine_state              1    code of the engine state; Text is its name
//
// where <roi> is hot_cylinder, cold_cylinder or flame.
const (
	MetricRPM          = "rpm"
	MetricDeltaT       = "delta_t"
	MetricCarnot       = "carnot_limit"
	MetricFlamePresent = "flame_present"
	MetricEngineState  = "engine_state"
)

// Units.
const (
	UnitRPM     = "RPM"
	UnitCelsius = "Cel"
	UnitKelvin  = "K"
	UnitOne     = "1"
)

// metricID indexes the fixed metric table.
type metricID uint8

const (
	mRPM metricID = iota
	mHot
	mHotMin
	mHotMax
	mHotP90
	mHotPixels
	mCold
	mColdMin
	mColdMax
	mColdP90
	mColdPixels
	mFlame
	mFlameMin
	mFlameMax
	mFlameP90
	mFlamePixels
	mDeltaT
	mCarnot
	mFlamePresent
	mEngineState
	numMetrics
)

// metricDef describes one metric.
type metricDef struct {
	name   string
	unit   string
	filter bool // Hampel and EMA apply
	min    float64
	max    float64
}

// metricDefs is the metric table with the default validation ranges. The
// MLX90640 is specified for objects from -40 to 300 deg C; the flame region
// reads hotter (extrapolated), so its range is wider.
var metricDefs = [numMetrics]metricDef{
	mRPM:          {MetricRPM, UnitRPM, true, 0, 5000},
	mHot:          {"hot_cylinder_c", UnitCelsius, true, -40, 400},
	mHotMin:       {"hot_cylinder_c_min", UnitCelsius, true, -40, 400},
	mHotMax:       {"hot_cylinder_c_max", UnitCelsius, true, -40, 400},
	mHotP90:       {"hot_cylinder_c_p90", UnitCelsius, true, -40, 400},
	mHotPixels:    {"hot_cylinder_pixels", UnitOne, false, 0, 768},
	mCold:         {"cold_cylinder_c", UnitCelsius, true, -40, 300},
	mColdMin:      {"cold_cylinder_c_min", UnitCelsius, true, -40, 300},
	mColdMax:      {"cold_cylinder_c_max", UnitCelsius, true, -40, 300},
	mColdP90:      {"cold_cylinder_c_p90", UnitCelsius, true, -40, 300},
	mColdPixels:   {"cold_cylinder_pixels", UnitOne, false, 0, 768},
	mFlame:        {"flame_c", UnitCelsius, true, -40, 1200},
	mFlameMin:     {"flame_c_min", UnitCelsius, true, -40, 1200},
	mFlameMax:     {"flame_c_max", UnitCelsius, true, -40, 1200},
	mFlameP90:     {"flame_c_p90", UnitCelsius, true, -40, 1200},
	mFlamePixels:  {"flame_pixels", UnitOne, false, 0, 768},
	mDeltaT:       {MetricDeltaT, UnitKelvin, true, -100, 400},
	mCarnot:       {MetricCarnot, UnitOne, true, 0, 1},
	mFlamePresent: {MetricFlamePresent, UnitOne, false, 0, 1},
	mEngineState:  {MetricEngineState, UnitOne, false, 0, 5},
}

// Metrics returns every metric name the pipeline emits, in a fixed order.
func Metrics() []string {
	out := make([]string, numMetrics)
	for i := range metricDefs {
		out[i] = metricDefs[i].name
	}
	return out
}

// Unit returns the unit of a metric, or "" for an unknown name.
func Unit(metric string) string {
	for i := range metricDefs {
		if metricDefs[i].name == metric {
			return metricDefs[i].unit
		}
	}
	return ""
}

func lookupMetric(name string) (metricID, bool) {
	for i := range metricDefs {
		if metricDefs[i].name == name {
			return metricID(i), true
		}
	}
	return 0, false
}

// EngineState is the engine's operating state.
type EngineState uint8

// Engine states; the numbers are the engine_state reading's Value.
const (
	StateUnknown  EngineState = iota // not yet known (no frame yet)
	StateCold                        // no flame, cylinders near each other's temperature
	StateHeating                     // flame lit, not yet turning since it was lit
	StateRunning                     // turning at running_rpm or faster
	StateStalled                     // flame lit, was running, now below running_rpm
	StateFlameOut                    // no flame but still hot or still turning
)

var stateNames = [...]string{"unknown", "cold", "heating", "running", "stalled", "flame_out"}

func (s EngineState) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "invalid"
}
