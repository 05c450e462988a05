package calibrate

import "github.com/stirling-iot/stirling/sensors"

func saveForTest(path string, r sensors.ROIs, o SaveOpts) error { return Save(path, r, o) }
