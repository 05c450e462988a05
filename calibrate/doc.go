// Package calibrate places the three regions of interest (hot cylinder,
// cold cylinder, flame) on the thermal image: it suggests a starting
// placement from a frame, computes per-region statistics, serves the
// calibration web page (live heat map, draggable regions, Save), and writes
// the ROI file atomically with a backup, so the running agent picks it up.
//
// Frames come from a FrameSource: the running agent's /api/frame (so the
// two never fight over the I2C bus), or the camera driver, or the simulator.
package calibrate
