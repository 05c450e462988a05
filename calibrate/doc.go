// Package calibrate places the three regions of interest (hot cylinder,
// cold cylinder, flame) on the thermal image: it suggests a starting
// placement from a frame, computes per-region statistics, serves the
// calibration web page (live heat map, draggable regions, Save), and writes
// the ROI file atomically with a backup, so the running agent picks it up.
//
// Frames come from a FrameSource: the running agent's /api/frame (so the
// two never fight over the I2C bus), or the camera driver, or the simulator.
//
// Run is the whole `stirling calibrate` command: it resolves the file to
// save (Opts.ROIsFile, else the file the running agent reports, else the
// rois_file of Opts.Config; never a guessed path), picks the frame source,
// and serves the page, draws the terminal view, or saves Opts.Set or a
// suggestion headlessly. Help is its user documentation.
package calibrate
