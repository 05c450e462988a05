package status

// HeatmapJS is the page script that draws a thermal frame on a canvas
// (colour ramp, regions, colour scale, temperature under the cursor). It
// defines window.StirlingHeatmap; the calibration page uses it too.
func HeatmapJS() []byte {
	b, _ := assets.ReadFile("assets/heatmap.js") // embedded: cannot fail
	return b
}

// StyleCSS is the pages' shared style sheet.
func StyleCSS() []byte {
	b, _ := assets.ReadFile("assets/style.css")
	return b
}
